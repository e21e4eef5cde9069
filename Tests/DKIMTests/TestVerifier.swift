#if OpenSSL
    import COpenSSL
    @testable import DKIM

    /// A small DKIM verifier for the tests (relaxed/relaxed only), checking signatures
    /// with the private key's public half. It shares the canonicalization under test; the
    /// independent check is dkimpy (Benchmarks/scripts/dkim-verify-with-dkimpy.py).
    enum TestVerifier {
        struct Signature {
            var tags: [String: String]
            var raw: [UInt8]
        }

        /// The DKIM-Signature fields of `message`, with their tags.
        static func signatures(_ message: [UInt8]) -> [Signature] {
            DKIMMessageParts(message).fields.filter { $0.name == "dkim-signature" }.map { field in
                let text = String(decoding: field.raw, as: UTF8.self)
                let value = text[text.index(after: text.firstIndex(of: ":")!)...]
                var tags: [String: String] = [:]
                for tag in value.split(separator: ";") {
                    guard let equals = tag.firstIndex(of: "=") else { continue }
                    let name = tag[..<equals].filter { !" \t\r\n".contains($0) }
                    tags[String(name)] = tag[tag.index(after: equals)...].filter {
                        !" \t\r\n".contains($0)
                    }
                }
                return Signature(tags: tags, raw: Array(field.raw))
            }
        }

        /// Whether every signature of `message` verifies with `keys` (selector → key).
        static func verify(_ message: [UInt8], keys: [String: DKIMPrivateKey]) -> [Bool] {
            let parts = DKIMMessageParts(message)
            return signatures(message).map { signature in
                guard let key = keys[signature.tags["s"] ?? ""],
                    let bh = signature.tags["bh"], let b = signature.tags["b"],
                    let h = signature.tags["h"],
                    let hash = try? DKIMDigest.sha256(DKIMCanonicalization.relaxedBody(parts.body)),
                    Base64Text.encode(hash) == bh,
                    let signatureBytes = Base64Text.decode(b)
                else { return false }
                let raw = signature.raw
                let bStart = raw.indices.last {
                    $0 + 1 < raw.count && raw[$0] == UInt8(ascii: "b") && raw[$0 + 1] == UInt8(ascii: "=")
                        && (raw[$0 - 1] == 0x09 || raw[$0 - 1] == 0x20 || raw[$0 - 1] == 0x3B)
                }!
                let template = Array(raw[...(bStart + 1)])
                let names = h.split(separator: ":").map { String($0).lowercased() }
                let input = DKIMSigner.headerHashInput(parts.select(names), signatureTemplate: template)
                return check(signatureBytes, over: input, key: key)
            }
        }

        static func check(_ signature: [UInt8], over input: [UInt8], key: DKIMPrivateKey) -> Bool {
            guard let context = EVP_MD_CTX_new() else { return false }
            defer { EVP_MD_CTX_free(context) }
            let data: [UInt8]
            let digest: OpaquePointer?
            switch key.algorithm {
            case .rsaSHA256:
                data = input
                digest = EVP_sha256()
            case .ed25519SHA256:
                data = (try? DKIMDigest.sha256(input)) ?? []
                digest = nil
            }
            guard EVP_DigestVerifyInit(context, nil, digest, nil, key.key) == 1 else { return false }
            return EVP_DigestVerify(context, signature, signature.count, data, data.count) == 1
        }
    }
#endif
