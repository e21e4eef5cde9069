import Foundation

/// The pages and texts a person sees: server-rendered HTML, plain forms, no JavaScript.
enum Pages {
    /// The sign-up form, with an optional notice above it and the address filled in.
    static func signupForm(notice: String? = nil, email: String = "") -> String {
        page(
            title: "Sign up",
            body: """
                \(notice.map { "<p class=\"notice\" id=\"notice\">\(escape($0))</p>" } ?? "")
                \(emailForm(email: email))
                """)
    }

    /// The page after a sign-up or a resend.
    static func result(_ result: SignupResult, period: Duration) -> String {
        switch result {
        case .badAddress(let email, let problem):
            return page(
                title: "Please check the address",
                body: """
                    <p id="outcome" data-outcome="bad-address">“\(escape(email))” is not an email address we can send to: \(escape(problem.explanation)). Nothing was sent.</p>
                    \(emailForm(email: email))
                    """)
        case .sent(let signup, _):
            return page(
                title: "We sent you a code",
                body: """
                    <p id="outcome" data-outcome="accepted">We sent you a code: the mail server for \(escape(domain(signup.email))) has accepted an email to <strong>\(escape(signup.email))</strong> with a 6-digit code. Enter it below within \(hours(period)).</p>
                    \(verifyForm(signup))
                    """)
        case .queued(let signup, let report):
            return page(
                title: "Your code is on its way",
                body: """
                    <p id="outcome" data-outcome="inconclusive">\(escape(inconclusiveWhy(report.reason, domain: domain(signup.email))))</p>
                    <p>We could not verify the address, but if it is a live address the code will arrive in due course. We keep trying for \(hours(period)); when it arrives, enter it below.</p>
                    \(verifyForm(signup))
                    """)
        case .refused(let email, let report):
            return page(
                title: "We cannot send to this address",
                body: """
                    <p id="outcome" data-outcome="terminal">\(escape(terminalWhy(report.reason, email: email))) Nothing will be sent to <strong>\(escape(email))</strong>.</p>
                    <p>Please check the address for typing mistakes, or use another one.</p>
                    \(emailForm(email: email))
                    """)
        case .tooMany(let email):
            return page(
                title: "Please check your inbox",
                body: """
                    <p id="outcome" data-outcome="too-many">We have already sent codes to \(escape(email)) several times in the last hour. Please look for them (and in your spam folder), or try again later.</p>
                    """)
        case .unavailable:
            return unavailable()
        }
    }

    /// The page after a code was entered.
    static func verification(_ result: VerifyResult) -> String {
        switch result {
        case .verified(let email):
            return page(
                title: "You are signed up",
                body: """
                    <p id="outcome" data-outcome="verified">Thank you: <strong>\(escape(email))</strong> is verified and your sign-up is complete.</p>
                    """)
        case .wrongCode(let signup, let left):
            return page(
                title: "That code is not right",
                body: """
                    <p id="outcome" data-outcome="wrong-code">That is not the code we sent to \(escape(signup.email)). You can try \(left) more time\(left == 1 ? "" : "s").</p>
                    \(verifyForm(signup))
                    """)
        case .noTriesLeft(let signup):
            return page(
                title: "Too many wrong codes",
                body: """
                    <p id="outcome" data-outcome="no-tries-left">Too many wrong codes were entered for \(escape(signup.email)). Ask for a new code to try again.</p>
                    \(resendForm(signup))
                    """)
        case .alreadyVerified(let email):
            return page(
                title: "Already verified",
                body: """
                    <p id="outcome" data-outcome="already-verified">\(escape(email)) is already verified; a code works only once.</p>
                    """)
        case .unknown:
            return page(
                title: "Sign-up not found",
                body: """
                    <p id="outcome" data-outcome="unknown">We have no pending sign-up for this code: it was not completed in time, or its code could not be delivered. Please sign up again.</p>
                    \(emailForm(email: ""))
                    """)
        case .unavailable:
            return unavailable()
        }
    }

    /// The page after asking for the code again.
    static func resend(_ result: ResendResult, period: Duration) -> String {
        switch result {
        case .resent(let signupResult):
            return Self.result(signupResult, period: period)
        case .tooSoon(let signup, let wait):
            return page(
                title: "Please wait a moment",
                body: """
                    <p id="outcome" data-outcome="too-soon">We sent a code to \(escape(signup.email)) only a moment ago. You can ask for another in \(Int(wait.seconds)) seconds.</p>
                    \(verifyForm(signup))
                    """)
        case .limitReached(let signup):
            return page(
                title: "No more codes",
                body: """
                    <p id="outcome" data-outcome="limit-reached">We have sent as many codes to \(escape(signup.email)) as we will. Please check your spam folder, or sign up with another address.</p>
                    \(verifyForm(signup))
                    """)
        case .alreadyVerified(let email):
            return verification(.alreadyVerified(email: email))
        case .unknown:
            return verification(.unknown)
        case .unavailable:
            return unavailable()
        }
    }

    /// The text of the verification email.
    static func emailText(code: String, period: Duration) -> String {
        """
        Welcome!

        Your sign-up code is \(code). Enter it on the sign-up page within \(hours(period)).

        If you did not sign up, ignore this email: without the code nothing happens.
        """
    }

    /// Why a send was inconclusive, for a person.
    static func inconclusiveWhy(_ reason: String, domain: String) -> String {
        switch reason {
        case "dns-unavailable":
            "We could not look up where \(domain) receives its mail: its name servers did not answer."
        case "no-reachable-host":
            "The mail servers of \(domain) did not answer us just now."
        case "temporary-failure":
            "The mail server of \(domain) asked us to try again later (many servers do this the first time they hear from us)."
        case "budget-exceeded":
            "The mail server of \(domain) is taking its time to answer."
        default:
            "We could not reach the mail server of \(domain) just now."
        }
    }

    /// Why a send was refused for good, for a person.
    static func terminalWhy(_ reason: String, email: String) -> String {
        let domain = domain(email)
        return switch reason {
        case "no-mail-server":
            "The domain \(domain) does not receive email: it has no mail server."
        case "sender-rejected":
            "The mail server of \(domain) refuses email from us."
        case "recipient-rejected":
            "The mail server of \(domain) says there is no mailbox \(email)."
        default:
            "The mail server of \(domain) refused the email."
        }
    }

    private static func unavailable() -> String {
        page(
            title: "Please try again",
            body: """
                <p id="outcome" data-outcome="unavailable">Something went wrong on our side; nothing was sent. Please try again in a minute.</p>
                \(emailForm(email: ""))
                """)
    }

    private static func emailForm(email: String) -> String {
        """
        <form method="post" action="/signup" id="signup-form">
          <label for="email">Email address</label>
          <input type="email" id="email" name="email" value="\(escape(email))" required autocomplete="email">
          <button type="submit" id="signup-button">Sign up</button>
        </form>
        """
    }

    private static func verifyForm(_ signup: PendingSignup) -> String {
        """
        <form method="post" action="/verify" id="verify-form">
          <input type="hidden" name="id" value="\(escape(signup.id))">
          <label for="code">Code</label>
          <input type="text" id="code" name="code" inputmode="numeric" pattern="[0-9 ]{6,8}" maxlength="8" required autocomplete="one-time-code">
          <button type="submit" id="verify-button">Verify</button>
        </form>
        \(resendForm(signup))
        """
    }

    private static func resendForm(_ signup: PendingSignup) -> String {
        """
        <form method="post" action="/resend" id="resend-form">
          <input type="hidden" name="id" value="\(escape(signup.id))">
          <button type="submit" id="resend-button">Send the code again</button>
        </form>
        """
    }

    private static func page(title: String, body: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(escape(title))</title>
        <style>
        body { font-family: system-ui, sans-serif; max-width: 36rem; margin: 3rem auto; padding: 0 1rem; line-height: 1.5; color: #222; }
        h1 { font-size: 1.6rem; }
        form { margin: 1.2rem 0; display: flex; gap: .5rem; flex-wrap: wrap; align-items: center; }
        input[type=email], input[type=text] { flex: 1 1 14rem; padding: .5rem; font-size: 1rem; }
        button { padding: .5rem 1rem; font-size: 1rem; }
        #resend-form button { background: none; border: none; color: #0645ad; text-decoration: underline; padding: 0; cursor: pointer; }
        .notice { background: #fff6d5; padding: .5rem; }
        </style>
        </head>
        <body>
        <h1 id="title">\(escape(title))</h1>
        \(body)
        </body>
        </html>
        """
    }

    static func hours(_ period: Duration) -> String {
        let hours = Int((period.seconds / 3600).rounded())
        if hours >= 1 { return "\(hours) hour\(hours == 1 ? "" : "s")" }
        let minutes = max(Int((period.seconds / 60).rounded()), 1)
        return "\(minutes) minute\(minutes == 1 ? "" : "s")"
    }

    static func domain(_ email: String) -> String {
        String(DeliveryLogObserver.domain(of: email))
    }

    /// HTML text escaping, for text and attribute values.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}
