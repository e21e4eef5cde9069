import DirectSMTP

/// `send --queue PATH`: the durable journal queue a deferred message goes into. The
/// queue (issue 6) is not in this build yet, so asking for it is an error, not a silent
/// loss of the deferred message.
enum SendQueue {
    struct Unavailable: Error, CustomStringConvertible {
        var description: String { "the delivery queue is not available in this build yet" }
    }

    static func attach(path: String, to coordinator: VerificationCoordinator) async throws {
        throw Unavailable()
    }
}
