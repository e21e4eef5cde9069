#if DIRECTSMTP_PTHREAD_LOCK
#if canImport(Glibc)
import Glibc
#endif
#else
import Synchronization
#endif

/// A value guarded by a mutual-exclusion lock: the one lock type of this package.
///
/// It has the shape of `Synchronization.Mutex` (a noncopyable value, `withLock` with a
/// `sending` value and result) and is backed by it in a normal build. ThreadSanitizer
/// cannot see `Mutex` (its futex-based lock carries no happens-before edge TSan knows),
/// so every access to a `Mutex`-guarded value is reported as a race and a real race would
/// drown among them. Building with `-Xswiftc -DDIRECTSMTP_PTHREAD_LOCK` backs the lock by a
/// `pthread_mutex_t`, which TSan intercepts; the sanitizer script (`.ci/sanitizers.sh`)
/// builds that way. Semantics are the same either way: not recursive, not fair.
public struct Lock<Value: ~Copyable>: ~Copyable {
    #if DIRECTSMTP_PTHREAD_LOCK
    @usableFromInline let storage: PthreadLockStorage<Value>
    #else
    @usableFromInline let mutex: Mutex<Value>
    #endif

    /// A lock guarding `initialValue`.
    ///
    /// Inlinable so that a client creating a lock for a concrete `Value` gets the lock's
    /// layout at compile time instead of looking up generic metadata at run time.
    @inlinable
    public init(_ initialValue: consuming sending Value) {
        #if DIRECTSMTP_PTHREAD_LOCK
        storage = PthreadLockStorage(initialValue)
        #else
        mutex = Mutex(initialValue)
        #endif
    }

    /// Runs `body` with exclusive access to the value and returns what it returns.
    ///
    /// `body` must not call `withLock` on the same lock (it would deadlock) and should
    /// neither block nor suspend: it runs with the lock held.
    @inlinable
    public borrowing func withLock<Result: ~Copyable, E: Error>(
        _ body: (inout sending Value) throws(E) -> sending Result
    ) throws(E) -> sending Result {
        #if DIRECTSMTP_PTHREAD_LOCK
        return try storage.withLock(body)
        #else
        return try mutex.withLock(body)
        #endif
    }
}

// Safe: the value is only ever reached inside `withLock`, under the lock, and it moves in
// and out only as `sending`, exactly as `Synchronization.Mutex`, which is Sendable for the
// same reason.
extension Lock: @unchecked Sendable where Value: ~Copyable {}

#if DIRECTSMTP_PTHREAD_LOCK
/// The heap storage of a pthread-backed ``Lock``: a `pthread_mutex_t` must not move once
/// initialised, so it lives at a fixed address, beside the value it guards.
@usableFromInline
final class PthreadLockStorage<Value: ~Copyable> {
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>
    @usableFromInline let value: UnsafeMutablePointer<Value>

    @usableFromInline
    init(_ initialValue: consuming sending Value) {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        precondition(pthread_mutex_init(mutex, nil) == 0, "pthread_mutex_init failed")
        value = .allocate(capacity: 1)
        value.initialize(to: initialValue)
    }

    deinit {
        value.deinitialize(count: 1)
        value.deallocate()
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    @inlinable
    func withLock<Result: ~Copyable, E: Error>(
        _ body: (inout sending Value) throws(E) -> sending Result
    ) throws(E) -> sending Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value.pointee)
    }
}

// Safe: `mutex` and `value` are set once in `init`; `value.pointee` is only touched
// between `pthread_mutex_lock` and `pthread_mutex_unlock` of `mutex`.
extension PthreadLockStorage: @unchecked Sendable where Value: ~Copyable {}
#endif
