import Foundation
import PostgresNIO

/// The work behind ``PostgresQueueStore/dueNotifications()``: `LISTEN` on one pooled
/// connection, reconnecting after a failure, and a periodic tick beside it. Runs until its
/// task is cancelled (the stream's consumer went away).
struct NotificationListener: Sendable {
    let client: PostgresClient
    let channel: String
    let pollInterval: Duration
    let logger: Logger

    /// The pause before listening again after the connection failed.
    static let reconnectDelay: Duration = .seconds(1)

    func run(yielding continuation: AsyncStream<Void>.Continuation) async {
        await withDiscardingTaskGroup { group in
            group.addTask { await listen(yielding: continuation) }
            group.addTask { await tick(yielding: continuation) }
        }
        continuation.finish()
    }

    private func listen(yielding continuation: AsyncStream<Void>.Continuation) async {
        while !Task.isCancelled {
            do {
                try await client.withConnection { connection in
                    try await connection.listen(on: channel) { notifications in
                        // Listening (again): whatever was sent before is unknown, so look once.
                        continuation.yield()
                        for try await _ in notifications { continuation.yield() }
                    }
                }
            } catch {
                logger.debug("queue notifications: listening failed, retrying", metadata: ["channel": "\(channel)"])
            }
            // Either an error or the server ended the listening connection: look, then retry.
            continuation.yield()
            try? await Task.sleep(for: Self.reconnectDelay)
        }
    }

    private func tick(yielding continuation: AsyncStream<Void>.Continuation) async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: pollInterval)
            } catch {
                return
            }
            continuation.yield()
        }
    }
}
