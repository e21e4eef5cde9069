// `import DirectSMTP` alone gives every type its API and the README's example use: the
// message and address types of SMTPClient, the reply, step and transcript types outcomes
// report (with the TLS policy a call takes and the TLS a session used), the socket address types of the configuration, the DNS resolver, and the DKIM
// signer with its key and error (``Configuration/dkimSigners`` takes them). Only those
// declarations are re-exported, not the modules beneath (sessions, sockets, DNS wire codec
// stay one `import` away for whoever wants them).

@_exported import struct SMTPClient.EmailAddress
@_exported import struct SMTPClient.EmailAddressError
@_exported import struct SMTPClient.Message
@_exported import struct SMTPClient.SMTPReply
@_exported import enum SMTPClient.SMTPStep
@_exported import struct SMTPClient.SMTPTimeouts
@_exported import struct SMTPClient.TranscriptEntry
@_exported import enum SMTPClient.TLSPolicy
@_exported import struct SMTPClient.SMTPTLSInfo
@_exported import class DNSClient.MXResolver
@_exported import struct DNSClient.ResolverConfiguration
@_exported import class Sockets.EventLoop
@_exported import struct Sockets.IPAddress
@_exported import struct Sockets.SocketAddress
@_exported import struct DKIM.DKIMSigner
@_exported import class DKIM.DKIMPrivateKey
@_exported import struct DKIM.DKIMError
