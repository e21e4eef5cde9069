import Sockets

/// One client connection as ``MockSMTPServer`` saw it.
public struct MockSMTPSessionRecord: Sendable, Hashable {
    /// Numbered from 1 in accept order.
    public var id: Int
    /// The client's address.
    public var client: SocketAddress
    /// The EHLO/HELO argument.
    public var heloName: String?
    /// Every command line received, without its line end (AUTH data included: it is a
    /// test server; only test credentials should reach it).
    public var commands: [String] = []
    /// Every read's bytes as received (when ``MockSMTPScript/recordsReads`` is on): a
    /// pipelined MAIL+RCPT+DATA group shows up as one read.
    public var reads: [[UInt8]] = []
    /// The user name that authenticated, if any.
    public var authenticatedAs: String?
    /// `true` once the connection ended.
    public var ended = false
    /// The TLS session, once a STARTTLS handshake succeeded.
    public var tls: MockTLSRecord?
    /// How many of ``commands`` came before STARTTLS's handshake started (STARTTLS
    /// included); `nil` when TLS never started. The rest came over TLS.
    public var commandsBeforeTLS: Int?
    /// Bytes that came after STARTTLS in the same read (pipelined across STARTTLS, which
    /// RFC 3207 forbids): discarded, counted here.
    public var bytesPipelinedAfterStartTLS = 0

    /// The reads as text, for readable assertions.
    public var readTexts: [String] { reads.map { String(decoding: $0, as: UTF8.self) } }
}

/// A TLS session as ``MockSMTPServer`` saw it.
public struct MockTLSRecord: Sendable, Hashable {
    /// e.g. `"TLSv1.3"`.
    public var version: String
    /// e.g. `"TLS_AES_256_GCM_SHA384"`.
    public var cipher: String
    /// The server name the client sent (SNI), if any.
    public var serverName: String?
}

/// One MAIL transaction.
public struct MockSMTPTransaction: Sendable, Hashable {
    /// The session it ran in.
    public var sessionID: Int
    /// The MAIL FROM address, as between `<` and `>`.
    public var mailFrom: String
    /// The MAIL FROM parameters (`SIZE=123`, `BODY=8BITMIME`, `SMTPUTF8`).
    public var mailParameters: [String]
    /// Recipients given a 2xx.
    public var recipients: [String] = []
    /// Recipients refused, with the code.
    public var refusedRecipients: [String] = []
    /// Whether the message was accepted after the final dot.
    public var delivered = false
}

/// A message accepted (2xx after the final dot).
public struct MockSMTPDelivery: Sendable, Hashable {
    /// The session it arrived in.
    public var sessionID: Int
    /// The MAIL FROM address.
    public var from: String
    /// The accepted recipients.
    public var to: [String]
    /// The MAIL FROM parameters.
    public var mailParameters: [String]
    /// The message as the client meant it: dot-stuffing removed, CRLF line ends, without
    /// the terminating `.CRLF`. Compare it with ``SMTPClient/MessageData/bytes``.
    public var data: [UInt8]
    /// The bytes exactly as received after the DATA reply, terminator included.
    public var wireData: [UInt8]

    /// ``data`` as text.
    public var text: String { String(decoding: data, as: UTF8.self) }
}
