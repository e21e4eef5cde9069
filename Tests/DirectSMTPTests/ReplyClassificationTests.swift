import DirectSMTP
import SMTPClient
import Testing

/// The providers' documented replies (Gmail, Microsoft, Yahoo/AOL postmaster pages, as
/// summarised in the repository's standards notes) → outcome reason and hint.
@Suite struct ReplyClassificationTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var code: Int
        var text: String
        var step: SMTPStep
        var reason: OutcomeReason
        var hint: DeliveryHint?
        var testDescription: String { "\(code) \(text) at \(step.rawValue)" }
    }

    static let table: [Case] = [
        // Gmail: reverse DNS.
        Case(code: 421, text: "4.7.0 [192.0.2.1] The IP you're using to send mail is not authorized... PTR record", step: .rcpt, reason: .temporaryFailure, hint: .reverseDNS),
        Case(code: 451, text: "4.7.23 The sending IP does not have a PTR record", step: .rcpt, reason: .temporaryFailure, hint: .reverseDNS),
        Case(code: 550, text: "5.7.25 The IP address sending this message does not have a PTR record setup", step: .rcpt, reason: .senderRejected, hint: .reverseDNS),
        // Gmail: authentication, often after the end of DATA.
        Case(code: 421, text: "4.7.26 This mail has been rate limited because it is unauthenticated", step: .endOfData, reason: .temporaryFailure, hint: .authentication),
        Case(code: 550, text: "5.7.26 This mail is unauthenticated, which poses a security risk to the sender", step: .endOfData, reason: .senderRejected, hint: .authentication),
        Case(code: 550, text: "5.7.27 The sender does not pass SPF", step: .endOfData, reason: .senderRejected, hint: .authentication),
        Case(code: 421, text: "4.7.27 SPF did not pass", step: .endOfData, reason: .temporaryFailure, hint: .authentication),
        Case(code: 550, text: "5.7.30 DKIM did not pass", step: .endOfData, reason: .senderRejected, hint: .authentication),
        Case(code: 550, text: "5.7.40 no DMARC policy", step: .rcpt, reason: .senderRejected, hint: .authentication),
        // Gmail: rate limits.
        Case(code: 421, text: "4.7.28 Our system has detected an unusual rate of unsolicited mail", step: .rcpt, reason: .temporaryFailure, hint: .rateLimited),
        Case(code: 550, text: "5.7.28 unusual rate of unsolicited mail from your IP netblock", step: .rcpt, reason: .senderRejected, hint: .rateLimited),
        // Gmail: TLS required (never terminal on a plaintext session).
        Case(code: 421, text: "4.7.29 TLS required", step: .mail, reason: .temporaryFailure, hint: .tlsRequired),
        Case(code: 550, text: "5.7.29 TLS required for this domain", step: .rcpt, reason: .temporaryFailure, hint: .tlsRequired),
        Case(code: 530, text: "5.7.0 Must issue a STARTTLS command first", step: .mail, reason: .temporaryFailure, hint: .tlsRequired),
        Case(code: 421, text: "4.7.0 TLS required for RCPT domain, closing connection", step: .rcpt, reason: .temporaryFailure, hint: .tlsRequired),
        Case(code: 523, text: "5.7.10 a command was pipelined after STARTTLS", step: .ehlo, reason: .senderRejected, hint: nil),
        // Gmail: the mailbox exists but is busy.
        Case(code: 450, text: "4.2.1 The user you are trying to contact is receiving mail too quickly", step: .rcpt, reason: .temporaryFailure, hint: .mailboxBusy),
        // Microsoft.
        Case(code: 550, text: "5.7.515 Access denied, sending domain does not meet the required authentication level", step: .endOfData, reason: .senderRejected, hint: .authentication),
        Case(code: 550, text: "5.7.1 Unfortunately, messages from [192.0.2.1] weren't sent. Please contact your ISP since part of their network is on our block list (S3150)", step: .rcpt, reason: .senderRejected, hint: .blocklisted),
        Case(code: 421, text: "RP-001 (BAY004-MC1F12) Unfortunately, some messages from 192.0.2.1 weren't sent", step: .rcpt, reason: .temporaryFailure, hint: .rateLimited),
        Case(code: 421, text: "RP-002 try again later", step: .mail, reason: .temporaryFailure, hint: .rateLimited),
        Case(code: 451, text: "4.7.500 Server busy. Please try again later from [192.0.2.1]. (AS761)", step: .rcpt, reason: .temporaryFailure, hint: .rateLimited),
        Case(code: 451, text: "4.7.651 The mail server [192.0.2.1] has been temporarily rate limited due to IP reputation. (S3114)", step: .rcpt, reason: .temporaryFailure, hint: .rateLimited),
        Case(code: 550, text: "5.7.606 Access denied, banned sending IP [192.0.2.1]", step: .rcpt, reason: .senderRejected, hint: .blocklisted),
        // Yahoo/AOL.
        Case(code: 421, text: "4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume or user complaints", step: .mail, reason: .temporaryFailure, hint: .rateLimited),
        Case(code: 554, text: "5.7.9 Message not accepted for policy reasons", step: .endOfData, reason: .senderRejected, hint: .authentication),
        // Ordinary replies keep their usual meaning and carry no hint.
        Case(code: 550, text: "5.1.1 no such user", step: .rcpt, reason: .recipientRejected, hint: nil),
        Case(code: 550, text: "5.1.1 no such user", step: .endOfData, reason: .recipientRejected, hint: nil),
        Case(code: 552, text: "5.2.2 mailbox full", step: .endOfData, reason: .senderRejected, hint: nil),
        Case(code: 553, text: "mailbox name not allowed", step: .rcpt, reason: .recipientRejected, hint: nil),
        Case(code: 550, text: "5.7.1 rejected by policy", step: .rcpt, reason: .senderRejected, hint: nil),
        Case(code: 450, text: "4.2.0 greylisted, try again later", step: .rcpt, reason: .temporaryFailure, hint: nil),
        Case(code: 554, text: "no SMTP service here", step: .greeting, reason: .senderRejected, hint: nil),
        Case(code: 421, text: "4.3.2 service not available", step: .greeting, reason: .noReachableHost, hint: nil),
        Case(code: 250, text: "2.0.0 OK queued", step: .endOfData, reason: .accepted, hint: nil),
        Case(code: 250, text: "STARTTLS", step: .ehlo, reason: .accepted, hint: nil),
    ]

    @Test(arguments: table)
    func documentedReplies(_ entry: Case) {
        let verdict = ReplyClassification(SMTPReply(entry.code, entry.text), at: entry.step)
        #expect(verdict.reason == entry.reason)
        #expect(verdict.hint == entry.hint)
        if entry.hint == .authentication {
            #expect(verdict.detail?.contains("directsmtp doctor") == true)
        }
    }

    @Test func theReplyCodeDecidesAndAMismatchIsKept() {
        let gmail = ReplyClassification(SMTPReply(421, "5.7.32 a mismatched class"), at: .rcpt)
        #expect(gmail.status == .deferred)
        #expect(gmail.detail?.contains("5.7.32 disagrees with the reply code 421") == true)
        let other = ReplyClassification(SMTPReply(550, "4.7.1 try later?"), at: .rcpt)
        #expect(other.status == .rejected)
        #expect(other.detail?.contains("permanent") == true)
    }

    @Test func aTLSDemandAfterSTARTTLSIsFinal() {
        let verdict = ReplyClassification(SMTPReply(550, "5.7.29 TLS required"), at: .rcpt, overTLS: true)
        #expect(verdict.reason == .senderRejected)
        #expect(verdict.hint == .tlsRequired)
    }

    @Test func hintsAreJSONNames() {
        #expect(DeliveryHint.allCases.map(\.rawValue) == [
            "authentication", "reverse-dns", "tls-required", "rate-limited", "blocklisted", "mailbox-busy",
        ])
    }
}
