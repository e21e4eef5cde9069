import DirectSMTP
import Foundation
import PostgresNIO

/// Runs the store's statements on the client within the operation timeout, translating what
/// they throw; the batch statements of group commit live here so the store's coalescers
/// can run them without the store itself.
struct StatementRunner: Sendable {
    let client: PostgresClient
    let schema: QueueTableSchema
    let timeout: Duration

    /// Runs `body` within the operation timeout and translates what it throws.
    func perform<Result: Sendable>(
        _ operation: String, _ body: @escaping @Sendable () async throws -> Result
    ) async throws -> Result {
        let timeout = self.timeout
        let context = "\(operation) on table \(schema.table)"
        do {
            return try await withThrowingTaskGroup(of: Result?.self) { group in
                group.addTask { try await body() }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let result = first else {
                    throw QueueStoreError(
                        .databaseUnavailable,
                        "\(context): the database did not answer within \(timeout) (unreachable, refusing connections or credentials, or overloaded)"
                    )
                }
                return result
            }
        } catch {
            throw PostgresErrorTranslation.storeError(error, context: context)
        }
    }

    /// The error of a settling call whose lease no longer holds its entry.
    static func leaseLost(_ lease: QueueLease, _ operation: String) -> QueueStoreError {
        QueueStoreError(
            .leaseLost,
            "\(operation): the lease on entry \(lease.entryID) no longer holds it (it expired and another worker claimed the entry, or the entry is gone); nothing was changed"
        )
    }

    // MARK: Group commit

    /// Stores `entries` in one transaction; each entry's own outcome, in order. An id given
    /// twice, or already stored, fails with `duplicate-id` alone. If the statement fails on
    /// one entry's data (not for want of a database), each entry is tried alone, so a bad
    /// entry fails only its own caller.
    func insertMany(_ entries: [QueueEntry]) async -> [Result<Void, any Error>] {
        var results = [Result<Void, any Error>](repeating: .success(()), count: entries.count)
        var seen: Set<String> = []
        var unique: [Int] = []
        for (index, entry) in entries.enumerated() {
            if seen.insert(entry.id).inserted {
                unique.append(index)
            } else {
                results[index] = .failure(Self.duplicate(entry.id))
            }
        }
        do {
            let skipped = try await insertUnique(unique.map { entries[$0] })
            for index in unique where skipped.contains(entries[index].id) {
                results[index] = .failure(Self.duplicate(entries[index].id))
            }
        } catch let error as QueueStoreError where error.code == .databaseError && unique.count > 1 {
            for index in unique {
                do {
                    if try await insertUnique([entries[index]]).isEmpty == false {
                        results[index] = .failure(Self.duplicate(entries[index].id))
                    }
                } catch {
                    results[index] = .failure(error)
                }
            }
        } catch {
            for index in unique { results[index] = .failure(error) }
        }
        return results
    }

    /// Inserts entries of distinct ids; returns the ids already stored (skipped).
    private func insertUnique(_ entries: [QueueEntry]) async throws -> Set<String> {
        var bindings = PostgresBindings(capacity: entries.count * 11)
        for entry in entries { Self.appendColumns(of: entry, to: &bindings) }
        let query = PostgresQuery(unsafeSQL: schema.insertMany(count: entries.count), binds: bindings)
        let client = self.client
        let stored = try await perform("enqueue") {
            var stored: Set<String> = []
            for try await id in try await client.query(query).decode(String.self) { stored.insert(id) }
            return stored
        }
        return Set(entries.map(\.id)).subtracting(stored)
    }

    /// Binds an entry's 11 stored columns, `id` to `last_reason`, in table order.
    static func appendColumns(of entry: QueueEntry, to bindings: inout PostgresBindings) {
        var data = ByteBuffer()
        data.writeBytes(entry.data)
        bindings.append(entry.id)
        bindings.append(entry.from)
        bindings.append(entry.to)
        bindings.append(entry.messageID)
        bindings.append(data)
        bindings.append(entry.requires8BitMIME)
        bindings.append(entry.requiresSMTPUTF8)
        bindings.append(entry.createdAt)
        bindings.append(entry.nextAttemptAt)
        bindings.append(Int32(clamping: entry.attempts))
        bindings.append(entry.lastReason)
    }

    /// Deletes each entry its lease still holds, in one transaction; returns the leases
    /// fenced off, in order.
    func deleteMany(_ leases: [QueueLease]) async throws -> [QueueLease] {
        var bindings = PostgresBindings(capacity: 2)
        bindings.append(leases.map(\.entryID))
        bindings.append(leases.map(\.token))
        return try await fenced(leases, "complete", PostgresQuery(unsafeSQL: schema.deleteManyLeased, binds: bindings))
    }

    /// Reschedules each entry its lease still holds, in one transaction; returns the leases
    /// fenced off, in order.
    func rescheduleMany(_ items: [PostgresQueueStore.Rescheduling]) async throws -> [QueueLease] {
        var bindings = PostgresBindings(capacity: 6)
        bindings.append(items.map(\.lease.entryID))
        bindings.append(items.map(\.lease.token))
        bindings.append(items.map { Int32(clamping: $0.attempts) })
        bindings.append(items.map(\.nextAttemptAt))
        bindings.append(items.map { $0.lastReason ?? "" })
        bindings.append(items.map { $0.lastReason != nil })
        return try await fenced(
            items.map(\.lease), "reschedule", PostgresQuery(unsafeSQL: schema.rescheduleMany, binds: bindings))
    }

    /// Runs a statement that answers with the (id, token) pairs it fenced off; returns
    /// those of `leases`.
    private func fenced(_ leases: [QueueLease], _ operation: String, _ query: PostgresQuery) async throws -> [QueueLease] {
        let client = self.client
        let lost = try await perform(operation) {
            var lost: Set<[String]> = []
            for try await (id, token) in try await client.query(query).decode((String, String).self) {
                lost.insert([id, token])
            }
            return lost
        }
        return leases.filter { lost.contains([$0.entryID, $0.token]) }
    }

    private static func duplicate(_ id: String) -> QueueStoreError {
        QueueStoreError(.duplicateID, "enqueue: an entry with the id \(id) is already stored")
    }
}
