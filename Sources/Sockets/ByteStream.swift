/// A connected, ordered byte stream read and written with deadlines: a plain
/// ``TCPConnection``, or a ``TLSStream`` on top of one. Code that speaks a protocol over
/// either (SMTP before and after STARTTLS) holds an `any ByteStream`.
public protocol ByteStream: Sendable {
    /// Reads what is available, at most `maxBytes`, appending it to `buffer`.
    /// - Returns: the count appended; 0 means end of stream.
    nonisolated(nonsending) func read(appendingTo buffer: inout [UInt8], maxBytes: Int, deadline: ContinuousClock.Instant?)
        async throws(SocketError) -> Int
    /// Writes all of `bytes`.
    nonisolated(nonsending) func write(_ bytes: [UInt8], deadline: ContinuousClock.Instant?) async throws(SocketError)
    /// Closes the stream (a TLS stream sends close_notify first, without waiting); idempotent.
    func close()
    /// The peer's address.
    var remoteAddress: SocketAddress { get }
}

extension TCPConnection: ByteStream {}
