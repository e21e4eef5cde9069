import Foundation

/// One sign-up as stored: pending until its code is entered, then verified.
public struct PendingSignup: Sendable, Hashable {
    /// The sign-up's identifier, carried by the verify and resend forms.
    public var id: String
    /// The address, as it was sent to.
    public var email: String
    /// The random salt the code's hash was made with.
    public var codeSalt: [UInt8]
    /// SHA-256 of salt and code: the code itself is never stored.
    public var codeHash: [UInt8]
    /// When the member signed up: the start of the period within which to verify.
    public var createdAt: Date
    /// When the code was last sent (resending is rate-limited).
    public var lastSentAt: Date
    /// How many codes were sent.
    public var sends: Int
    /// Tries of the current code so far (a right one included).
    public var failedTries: Int
    /// The Message-ID of the last code's email, by which queue events find the sign-up.
    public var messageID: String
    /// Set once the right code was entered; the code cannot be used again.
    public var verifiedAt: Date?

    /// Whether the sign-up is complete.
    public var isVerified: Bool { verifiedAt != nil }
}
