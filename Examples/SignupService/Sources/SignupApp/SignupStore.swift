import Foundation

/// Where pending and verified sign-ups live: ``SQLiteSignupStore`` (the default, one file)
/// or ``PostgresSignupStore`` (when `DATABASE_URL` names a PostgreSQL server). Each change
/// is one statement, atomic and durable when the call returns: a page never promises what
/// a restart could lose.
public protocol SignupStore: Sendable {
    /// Stores a new sign-up.
    func insert(_ signup: PendingSignup) async throws
    /// The sign-up with `id`, if any.
    func signup(id: String) async throws -> PendingSignup?
    /// How many pending sign-ups for `email` were made since `date`.
    func pendingCount(email: String, since date: Date) async throws -> Int
    /// Every stored sign-up, oldest first (for tests and operators).
    func all() async throws -> [PendingSignup]
    /// Takes one of the code's `limit` tries, before the code is compared (so concurrent
    /// guesses cannot exceed the limit); `nil` when none is left or the sign-up is gone.
    func takeTry(id: String, limit: Int) async throws -> Int?
    /// Marks a pending sign-up verified and forgets its code; `false` when it was not
    /// pending any more (verified by a concurrent request, or removed).
    func markVerified(id: String, at date: Date) async throws -> Bool
    /// Replaces a pending sign-up's code and Message-ID (a resend).
    func replaceCode(id: String, salt: [UInt8], hash: [UInt8], messageID: String, sentAt: Date)
        async throws
    /// Removes a pending sign-up (a verified one stays).
    @discardableResult
    func removePending(id: String) async throws -> Bool
    /// Removes the pending sign-up whose last email has `messageID`; returns it.
    func removePending(messageID: String) async throws -> PendingSignup?
    /// Removes the pending sign-ups created before `cutoff`; returns them.
    func removePending(createdBefore cutoff: Date) async throws -> [PendingSignup]
    /// Closes the database; later calls fail.
    func close() async
}
