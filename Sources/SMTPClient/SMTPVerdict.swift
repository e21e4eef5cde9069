/// What an SMTP attempt came to, in the terms of the library's six outcomes.
public enum SMTPVerdict: Sendable, Hashable {
    /// 250 after the final dot (send), or 2xx at RCPT (probe).
    case accepted
    /// 5xx at greeting/EHLO/MAIL, 5.7.x at RCPT/DATA, a 5xx after DATA other than 5.1.x;
    /// also a message this server cannot take (8BITMIME or SIZE), decided locally.
    case senderRejected
    /// Other 5xx at RCPT, 5.1.x after DATA; also a UTF-8 recipient without SMTPUTF8 (5.6.7).
    case recipientRejected
    /// 4xx at MAIL/RCPT/DATA/end of data, or timeout, EOF or garbage inside the transaction.
    case temporaryFailure
    /// Connect failure or timeout, 4xx/421, EOF or garbage at greeting/EHLO: try the next host.
    case unreachable
}
