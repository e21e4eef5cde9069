import DirectSMTP

/// Several observers as one (the configuration takes one): each is told in turn.
public struct DeliveryObservers: DeliveryObserver {
    let observers: [any DeliveryObserver]

    /// Tells each of `observers`, in order.
    public init(_ observers: [any DeliveryObserver]) {
        self.observers = observers
    }

    public func attemptStarted(_ attempt: AttemptStarted) {
        for observer in observers { observer.attemptStarted(attempt) }
    }

    public func attemptFinished(_ attempt: AttemptFinished) {
        for observer in observers { observer.attemptFinished(attempt) }
    }

    public func queueActivity(_ activity: QueueActivity) {
        for observer in observers { observer.queueActivity(activity) }
    }
}
