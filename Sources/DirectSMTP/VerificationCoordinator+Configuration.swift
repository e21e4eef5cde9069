import DKIM
import DNSClient
import SMTPClient
import Sockets

extension VerificationCoordinator {
    /// Everything a ``VerificationCoordinator`` needs to know; every field has a sensible
    /// default but the HELO name.
    ///
    /// ```swift
    /// var configuration = VerificationCoordinator.Configuration(heloName: "app.example.com")
    /// configuration.defaultBudget = .seconds(2)
    /// configuration.probeSender = try EmailAddress("verify@app.example.com")
    /// ```
    public struct Configuration: Sendable {
        /// The name given in EHLO/HELO: this machine's public host name (or an address
        /// literal). Validated when the coordinator is made.
        public var heloName: String
        /// `MAIL FROM` of probes; `nil` means `postmaster@` the HELO name (never the null
        /// sender, which some sites refuse).
        public var probeSender: EmailAddress?
        /// The DNS servers to ask (at most 3 are used); empty means those of
        /// `/etc/resolv.conf`.
        public var nameservers: [SocketAddress]
        /// Per DNS attempt (default 1 s).
        public var dnsTimeout: Duration
        /// DNS attempts per server (default 2).
        public var dnsAttempts: Int
        /// The SMTP port of MX hosts: 25, or a loopback test port.
        public var smtpPort: Int
        /// How long a race candidate may take before the next one starts (default 250 ms).
        public var staggerDelay: Duration
        /// Per-step SMTP timeouts (connect, greeting, EHLO, MAIL, RCPT, DATA, end of data)
        /// of `send` and `probe` (default `.interactive`).
        public var timeouts: SMTPTimeouts
        /// The step timeouts of the queue's re-sends (default `.patient`): nobody waits on
        /// them, and some servers are slow on purpose with clients they do not know (a
        /// Postfix site with postscreen's pregreet test may greet a new client only after
        /// up to 6 s, past the interactive 3 s; once a re-send got through, the site knows
        /// this server and interactive sends get through too).
        public var redeliveryTimeouts: SMTPTimeouts
        /// The budget of calls that do not give one (default 3 s).
        public var defaultBudget: Duration
        /// At most this many attempts at once per recipient domain (default 50); more wait.
        public var concurrencyPerDestination: Int
        /// How long probe outcomes are reused.
        public var probeCache: ProbeCachePolicy
        /// How long an MX address that just timed out or refused is tried last (default 60 s;
        /// `.zero` turns the health memory off).
        public var hostHealthPenalty: Duration
        /// The time a queued message's re-send has to reach a server and start its
        /// transaction (default 120 s). A transaction started is always waited for (its
        /// step timeouts bound it): a re-send never answers "deferred" and then delivers.
        public var redeliveryBudget: Duration
        /// Refuse MX hosts and address literals whose address is not public (private,
        /// loopback, link-local, ...; see `SocketAddress.isPublic`) instead of connecting
        /// to them (default `true`): the addresses come from public forms, and
        /// `user@[10.0.0.5]`, or a domain whose MX points inside your network, must not
        /// make your server open SMTP connections there. Such a domain, with no public
        /// host left, is `rejected(no-mail-server)`. Turn it off for tests against servers
        /// on loopback.
        public var refusesNonPublicAddresses: Bool
        /// Where deferred sends are stored and retried from (`nil`: no queue; a deferred
        /// send is then only reported). With a store, ``VerificationCoordinator/run()``
        /// retries and purges in the background:
        ///
        /// ```swift
        /// configuration.queueStore = try await FileJournalQueueStore.open(path: "/var/lib/app/mail.journal")
        /// ```
        public var queueStore: (any QueueStore)?
        /// When the queue retries and when it gives up (default ``RetrySchedule/default``).
        public var retrySchedule: RetrySchedule
        /// How many queued messages are retried at once, in all and per domain.
        public var queueLimits: DeliveryQueue.Limits
        /// The clock of the probe cache and the health memory (tests inject their own);
        /// budgets always use the real `ContinuousClock`.
        public var clock: @Sendable () -> ContinuousClock.Instant
        /// DKIM signers applied to every `send` (default none): one signature each, e.g.
        /// RSA plus Ed25519. A message is signed once, when composed; a queued copy keeps
        /// its signature and is never signed again.
        public var dkimSigners: [DKIMSigner] = []
        /// Which IP versions the race dials, in what order (default
        /// ``AddressFamilyPreference/interleaved``, RFC 8305). ``AddressFamilyPreference/ipv4First``
        /// or ``AddressFamilyPreference/ipv4Only`` for a server whose IPv6 address has no PTR.
        public var addressFamilyPreference: AddressFamilyPreference = .interleaved
        /// At most this many MX addresses are dialled per call, the first ones in race
        /// order (default 10; at least 1). The domain comes from a form: without a limit, a
        /// zone listing thousands of addresses would make this server connect to each of
        /// them on every call and every retry. Large providers publish about five MX hosts
        /// with an IPv4 and an IPv6 address each. As with Postfix (whose
        /// `smtp_mx_address_limit` is 5), the addresses left out are not tried: if every
        /// one dialled refuses us with 5xx, the outcome is `rejected(sender-rejected)`.
        public var mxAddressLimit = 10
        /// The queue's clock: when re-sends are due and when a message is too old
        /// (default the wall clock). Tests inject a ``ManualQueueClock`` and move it, so a
        /// day of retry schedule passes in milliseconds; ``clock`` above is another one,
        /// the monotonic clock of the caches.
        public var queueClock: any QueueClock = SystemQueueClock()
        /// Told about every attempt and queue event, for logs and metrics (default none).
        /// See ``DeliveryObserver``.
        public var observer: (any DeliveryObserver)? = nil
        /// STARTTLS (RFC 3207) for calls that do not give a policy, and for the queue's
        /// re-sends (default ``TLSPolicy/opportunistic``: TLS whenever offered, the
        /// certificate not verified; after a failed handshake the same host is tried again
        /// in plaintext, and for an hour that address gets plaintext straight away).
        /// ``TLSPolicy/required``: a host without working TLS gets no transaction, the
        /// outcome is deferred. ``TLSPolicy/off``: never STARTTLS.
        public var tlsPolicy: TLSPolicy = .opportunistic

        /// A configuration with defaults: port 25, stagger 250 ms, interactive timeouts,
        /// budget 3 s, the system's DNS servers.
        public init(
            heloName: String,
            probeSender: EmailAddress? = nil,
            nameservers: [SocketAddress] = [],
            smtpPort: Int = 25,
            staggerDelay: Duration = .milliseconds(250),
            timeouts: SMTPTimeouts = .interactive,
            defaultBudget: Duration = .seconds(3)
        ) {
            self.heloName = heloName
            self.probeSender = probeSender
            self.nameservers = nameservers
            self.dnsTimeout = .seconds(1)
            self.dnsAttempts = 2
            self.smtpPort = smtpPort
            self.staggerDelay = staggerDelay
            self.timeouts = timeouts
            self.redeliveryTimeouts = .patient
            self.defaultBudget = defaultBudget
            self.concurrencyPerDestination = 50
            self.probeCache = ProbeCachePolicy()
            self.hostHealthPenalty = .seconds(60)
            self.redeliveryBudget = .seconds(120)
            self.refusesNonPublicAddresses = true
            self.queueStore = nil
            self.retrySchedule = .default
            self.queueLimits = DeliveryQueue.Limits()
            self.clock = { .now }
        }

        /// The resolver configuration these settings ask for.
        public var resolverConfiguration: ResolverConfiguration {
            var configuration =
                nameservers.isEmpty
                ? ResolverConfiguration.system() : ResolverConfiguration(nameservers: nameservers)
            configuration.timeout = dnsTimeout
            configuration.attempts = dnsAttempts
            return configuration
        }

        var engineSettings: EngineSettings {
            var settings = EngineSettings()
            settings.smtpPort = smtpPort
            settings.staggerDelay = staggerDelay
            settings.healthPenalty = hostHealthPenalty
            settings.probeCache = probeCache
            settings.concurrencyPerDestination = concurrencyPerDestination
            settings.refusesNonPublicAddresses = refusesNonPublicAddresses
            settings.addressFamilyPreference = addressFamilyPreference
            settings.mxAddressLimit = max(1, mxAddressLimit)
            settings.clock = clock
            settings.tlsPolicy = tlsPolicy
            return settings
        }
    }
}
