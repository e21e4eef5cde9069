import Sockets

/// SPF macro expansion (RFC 7208 §7): `%{s}` sender, `%{l}` its local part, `%{o}` its
/// domain, `%{d}` the current domain, `%{i}` the client address (IPv6 as dotted
/// nibbles), `%{p}` (always `unknown`: validating the PTR name is not done), `%{v}`
/// (`in-addr` or `ip6`), `%{h}` the HELO name; transformers: a count of right-hand parts
/// to keep, `r` to reverse, delimiters from `.-+,/_=`; upper-case letters URL-escape;
/// `%%`, `%_`, `%-`. Pure.
enum SPFMacro {
    struct Context {
        var sender: String
        var domain: String
        var ip: IPAddress
        var helo: String
    }

    /// The expanded string, or `nil` for a malformed macro (a permerror).
    static func expand(_ text: String, context: Context) -> String? {
        var output = ""
        var characters = Array(text)[...]
        while let character = characters.first {
            characters = characters.dropFirst()
            guard character == "%" else {
                guard character.isASCII, character != " " else { return nil }
                output.append(character)
                continue
            }
            guard let next = characters.first else { return nil }
            characters = characters.dropFirst()
            switch next {
            case "%": output += "%"
            case "_": output += " "
            case "-": output += "%20"
            case "{":
                guard let close = characters.firstIndex(of: "}") else { return nil }
                let body = characters[characters.startIndex..<close]
                characters = characters[(close + 1)...]
                guard let expanded = macro(String(body), context) else { return nil }
                output += expanded
            default:
                return nil
            }
        }
        return output
    }

    static func macro(_ body: String, _ context: Context) -> String? {
        guard let letter = body.first else { return nil }
        let value: String
        let at = context.sender.lastIndex(of: "@")
        switch letter.lowercased() {
        case "s": value = context.sender
        case "l": value = at.map { String(context.sender[..<$0]) }.flatMap { $0.isEmpty ? nil : $0 } ?? "postmaster"
        case "o": value = at.map { String(context.sender[context.sender.index(after: $0)...]) } ?? context.sender
        case "d": value = context.domain
        case "i": value = dotted(context.ip)
        case "p": value = "unknown"
        case "v": value = context.ip.isIPv6 ? "ip6" : "in-addr"
        case "h": value = context.helo
        default: return nil
        }
        // Transformers: digits, then optional r, then delimiters.
        var rest = body.dropFirst()
        let digits = rest.prefix { $0.isASCII && $0.isNumber }
        rest = rest.dropFirst(digits.count)
        var keep: Int?
        if !digits.isEmpty {
            guard let count = Int(digits), count > 0, count <= 128 else { return nil }
            keep = count
        }
        var reverse = false
        if rest.first == "r" || rest.first == "R" {
            reverse = true
            rest = rest.dropFirst()
        }
        guard rest.allSatisfy({ ".-+,/_=".contains($0) }) else { return nil }
        let delimiters = rest.isEmpty ? Set(".") : Set(rest)
        var parts = value.split(omittingEmptySubsequences: false) { delimiters.contains($0) }.map(String.init)
        if reverse { parts.reverse() }
        if let keep, keep < parts.count { parts = Array(parts.suffix(keep)) }
        let joined = parts.joined(separator: ".")
        return letter.isUppercase ? urlEscaped(joined) : joined
    }

    /// IPv4 dotted quad; IPv6 as 32 dot-separated nibbles (§7.3).
    static func dotted(_ ip: IPAddress) -> String {
        guard ip.isIPv6 else { return ip.bytes.map(String.init).joined(separator: ".") }
        let digits = Array("0123456789abcdef")
        return ip.bytes.flatMap { [String(digits[Int($0 >> 4)]), String(digits[Int($0 & 15)])] }
            .joined(separator: ".")
    }

    /// RFC 3986 unreserved characters kept, everything else percent-encoded.
    static func urlEscaped(_ text: String) -> String {
        var output = ""
        for byte in text.utf8 {
            let scalar = Unicode.Scalar(byte)
            if (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A) || "-._~".unicodeScalars.contains(scalar) {
                output.unicodeScalars.append(scalar)
            } else {
                let hex = Array("0123456789ABCDEF")
                output += "%" + String(hex[Int(byte >> 4)]) + String(hex[Int(byte & 15)])
            }
        }
        return output
    }
}
