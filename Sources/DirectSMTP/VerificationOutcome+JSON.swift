extension VerificationOutcome {
    /// The outcome as one line of JSON, fields in DESIGN.md's order:
    ///
    /// ```json
    /// {"outcome":"rejected","scenario":5,"reason":"recipient-rejected","address":"a@example.com",
    ///  "queued":false,"mx":{"host":"mx1.example.com","ip":"192.0.2.1","preference":10},
    ///  "reply":{"code":550,"enhanced":"5.1.1","text":"no such user"},
    ///  "elapsedMs":12.5,"timings":{"dns":1.2,"connect":0.4,"tls":3.1},
    ///  "tls":{"version":"TLSv1.3","cipher":"TLS_AES_256_GCM_SHA384"},"hint":null,"catchAll":null}
    /// ```
    ///
    /// `mx`, `reply`, `tls` (a plaintext session), `hint` (a ``DeliveryHint`` name such as
    /// `"authentication"`) and `catchAll` (`true`/`false`) are `null` when absent;
    /// milliseconds carry one decimal.
    public var json: String {
        var out = "{"
        out += "\"outcome\":" + JSONText.string(status.rawValue)
        out += ",\"scenario\":\(scenario)"
        out += ",\"reason\":" + JSONText.string(reason.rawValue)
        out += ",\"address\":" + JSONText.string(address)
        out += ",\"queued\":\(queued)"
        if let mx {
            out += ",\"mx\":{\"host\":" + JSONText.string(mx.host)
            out += ",\"ip\":" + JSONText.string(mx.ip)
            out += ",\"preference\":\(mx.preference)}"
        } else {
            out += ",\"mx\":null"
        }
        if let reply {
            out += ",\"reply\":{\"code\":\(reply.code)"
            out += ",\"enhanced\":" + (reply.enhancedCode.map(JSONText.string) ?? "null")
            out += ",\"text\":" + JSONText.string(reply.text) + "}"
        } else {
            out += ",\"reply\":null"
        }
        out += ",\"elapsedMs\":" + JSONText.milliseconds(elapsed)
        out += ",\"timings\":{"
        out += phaseTimings
            .map { JSONText.string($0.name) + ":" + JSONText.milliseconds($0.duration) }
            .joined(separator: ",")
        out += "}"
        if let tls {
            out += ",\"tls\":{\"version\":" + JSONText.string(tls.version)
            out += ",\"cipher\":" + JSONText.string(tls.cipher) + "}"
        } else {
            out += ",\"tls\":null"
        }
        out += ",\"hint\":" + (hint.map { JSONText.string($0.rawValue) } ?? "null")
        out += ",\"catchAll\":" + (catchAll.map { "\($0)" } ?? "null")
        out += "}"
        return out
    }
}

/// The few JSON encoding rules the outcome needs (RFC 8259), without Foundation. Package
/// visible: the command's other JSON (`mx`, `queue list`) escapes strings with it too.
package enum JSONText {
    /// A JSON string literal: quotes, backslashes and control characters escaped.
    package static func string(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _
            where scalar.value < 0x20 || scalar.value == 0x7F || scalar.value == 0x2028
                || scalar.value == 0x2029:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// Milliseconds with one decimal: `12.5`, `0.0`, `3001.2`.
    static func milliseconds(_ duration: Duration) -> String {
        let tenths = Int64((max(duration.milliseconds, 0) * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }
}
