/// How an interruptible transaction call ended (see
/// ``SMTPSession/send(from:to:data:interruptAt:)``).
public enum SMTPTransactionProgress: Sendable, Hashable {
    /// The transaction reached its verdict (or could not start).
    case finished(SMTPResult)
    /// The caller's deadline passed, or its task was cancelled, while the transaction was
    /// waiting on the server. Nothing was lost: the session stopped at a wait, and
    /// ``SMTPSession/resume()`` (typically from another task) carries the transaction on
    /// from there to its verdict.
    case interrupted
}
