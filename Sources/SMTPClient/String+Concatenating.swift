extension String {
    /// `parts` one after the other, written into a string sized once. Interpolation
    /// appends the same parts one at a time, each append checking the storage and
    /// growing it (a few hundred instructions apiece), which adds up for the strings
    /// every session makes (commands, addresses, header values).
    init(concatenating parts: String...) {
        var parts = parts
        let count = parts.reduce(0) { $0 + $1.utf8.count }
        self.init(unsafeUninitializedCapacity: count) { output in
            var offset = 0
            for index in parts.indices {
                parts[index].withUTF8 { bytes in
                    guard let source = bytes.baseAddress, let target = output.baseAddress else { return }
                    (target + offset).initialize(from: source, count: bytes.count)
                    offset += bytes.count
                }
            }
            return offset
        }
    }
}
