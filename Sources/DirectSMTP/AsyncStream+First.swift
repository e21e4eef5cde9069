extension AsyncStream where Element: Sendable {
    /// The first element to arrive within `limit`, or `nil`. The stream's consumer is
    /// cancelled either way; with ``VerificationCoordinator/events`` that ends only this
    /// subscription, never another's.
    package func first(within limit: Duration) async -> Element? {
        await withTaskGroup(of: Element?.self) { group in
            group.addTask {
                for await element in self { return element }
                return nil
            }
            group.addTask {
                try? await Task.sleep(for: limit)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }
}
