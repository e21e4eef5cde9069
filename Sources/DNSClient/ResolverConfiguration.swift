import Sockets

#if canImport(Glibc)
    import Glibc
#endif

/// Which recursive name servers to ask, and how patiently: what `/etc/resolv.conf` says,
/// or what a caller (a test, the CLI's `--dns HOST:PORT`) puts in its place.
///
/// ```swift
/// let system = ResolverConfiguration.system()
/// let local = ResolverConfiguration(nameservers: [try SocketAddress(ip: "127.0.0.1", port: 5353)],
///                                   timeout: .milliseconds(500), attempts: 2)
/// ```
public struct ResolverConfiguration: Sendable {
    /// The servers, in order; at most 3 are used (as in glibc).
    public var nameservers: [SocketAddress]
    /// How long one attempt at one server may take.
    public var timeout: Duration
    /// How many rounds over the server list.
    public var attempts: Int
    /// Spread queries over the servers, starting each query at the next one.
    public var rotate: Bool
    /// The most queries in flight at once (each holds a socket) across every lookup of
    /// one ``MXResolver`` (one `DNSQueryClient`): a burst of lookups of many distinct
    /// names waits for free slots instead of taking every file descriptor of the process.
    /// A query that gets no slot within its attempt's timeout counts as timed out.
    /// Default ``defaultMaximumConcurrentQueries``; at least 1 is used.
    public var maximumConcurrentQueries: Int

    /// The most servers used, as in glibc's `MAXNS`.
    public static let maximumNameservers = 3

    /// The default of ``maximumConcurrentQueries``: 256.
    public static let defaultMaximumConcurrentQueries = 256

    /// A configuration with every field given. `timeout` is clamped to 1 ms...30 s and
    /// `attempts` to 1...5 when used.
    public init(
        nameservers: [SocketAddress], timeout: Duration = .seconds(1), attempts: Int = 2,
        rotate: Bool = false,
        maximumConcurrentQueries: Int = ResolverConfiguration.defaultMaximumConcurrentQueries
    ) {
        self.nameservers = nameservers
        self.timeout = timeout
        self.attempts = attempts
        self.rotate = rotate
        self.maximumConcurrentQueries = maximumConcurrentQueries
    }

    /// The servers actually asked: the first three.
    public var usedNameservers: [SocketAddress] {
        Array(nameservers.prefix(Self.maximumNameservers))
    }

    /// `timeout` within 1 ms...30 s.
    public var effectiveTimeout: Duration { min(max(timeout, .milliseconds(1)), .seconds(30)) }

    /// `attempts` within 1...5.
    public var effectiveAttempts: Int { min(max(attempts, 1), 5) }

    /// ``maximumConcurrentQueries``, at least 1.
    public var effectiveMaximumConcurrentQueries: Int { max(maximumConcurrentQueries, 1) }

    /// Reads `/etc/resolv.conf` (see ``parse(resolvConf:)``). A missing or unreadable file
    /// gives glibc's default, the resolver on `127.0.0.1:53`.
    public static func system(path: String = "/etc/resolv.conf") -> ResolverConfiguration {
        parse(resolvConf: readSmallFile(path) ?? "")
    }

    /// Parses resolv.conf text: `nameserver ADDRESS` (IPv4 or IPv6, port 53, at most 3;
    /// a `%scope` suffix is dropped), `options timeout:N attempts:N rotate`, comments
    /// after `#` or `;`. Anything else is ignored, as glibc does. No nameserver line means
    /// `127.0.0.1:53`. Defaults: timeout 5 s, attempts 2 (glibc's), clamped to 30 s and 5.
    public static func parse(resolvConf text: String) -> ResolverConfiguration {
        var servers: [SocketAddress] = []
        var timeout = Duration.seconds(5)
        var attempts = 2
        var rotate = false
        // "\r\n" is one Character in Swift, equal to neither "\n" nor "\r": a file with
        // CRLF line ends must still split into lines (and a comment end at its line).
        for rawLine in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) {
            var line = Substring(rawLine)
            if let comment = line.firstIndex(where: { $0 == "#" || $0 == ";" }) {
                line = line[..<comment]
            }
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let keyword = words.first else { continue }
            switch keyword {
            case "nameserver":
                guard words.count >= 2, servers.count < maximumNameservers else { continue }
                var host = words[1]
                if let percent = host.firstIndex(of: "%") { host = host[..<percent] }
                if let address = try? SocketAddress(ip: String(host), port: 53) {
                    servers.append(address)
                }
            case "options":
                for option in words.dropFirst() {
                    if option == "rotate" {
                        rotate = true
                    } else if option.hasPrefix("timeout:"), let value = Int(option.dropFirst(8)),
                        value >= 0
                    {
                        timeout = .seconds(min(max(value, 1), 30))
                    } else if option.hasPrefix("attempts:"), let value = Int(option.dropFirst(9)),
                        value >= 0
                    {
                        attempts = min(max(value, 1), 5)
                    }
                }
            default:
                continue
            }
        }
        if servers.isEmpty, let local = try? SocketAddress(ip: "127.0.0.1", port: 53) {
            servers = [local]
        }
        return ResolverConfiguration(
            nameservers: servers, timeout: timeout, attempts: attempts, rotate: rotate)
    }

    /// Parses the CLI's `--dns` values: `HOST:PORT`, `[V6]:PORT`, or a bare address
    /// (port 53).
    /// - Throws: `SocketError` with code `.invalidAddress` for a name or garbage.
    public static func nameservers(parsing values: [String]) throws(SocketError) -> [SocketAddress]
    {
        var servers: [SocketAddress] = []
        for value in values {
            let address = try SocketAddress(parsing: value, defaultPort: 53)
            guard address.port != 0 else {
                throw SocketError(.invalidAddress, "'\(value)': port 0 cannot be asked")
            }
            servers.append(address)
        }
        return servers
    }
}

/// Reads a small text file with plain POSIX calls (at most 64 KiB); `nil` if unreadable.
/// Only used at configuration time, never on a lookup's path.
func readSmallFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while bytes.count < 65_536 {
        let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count < 0, errno == EINTR { continue }
        guard count > 0 else { break }
        bytes.append(contentsOf: chunk[0..<count])
    }
    return String(decoding: bytes, as: UTF8.self)
}
