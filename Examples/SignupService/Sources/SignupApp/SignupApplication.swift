import DirectSMTP
import Hummingbird
import Logging
import Metrics

/// The assembled service: the HTTP application, and the parts tests and tools reach into.
public struct SignupApplication: Sendable {
    /// The Hummingbird application; `runService()` serves until SIGINT/SIGTERM.
    public let application: Application<RouterResponder<BasicRequestContext>>
    /// The sign-up flow behind the routes.
    public let flow: SignupFlow
    /// The database of sign-ups.
    public var store: any SignupStore { flow.store }
    /// The mailer and its queue.
    public var mailer: VerificationMailer { flow.mailer }

    /// Opens the database (PostgreSQL for the sign-ups and the queue when
    /// `configuration.databaseURL` is set; else SQLite and the queue journal) and builds
    /// the routes. The sign-ups and
    /// the queue run on `clock`. Logs go to `logger` (by default one at
    /// `configuration.logLevel`), metrics to `metrics`;
    /// `addRoutes` adds routes of the caller's (the demo's mock inbox).
    public static func build(
        configuration: AppConfiguration,
        clock: any QueueClock = SystemQueueClock(),
        logger: Logger? = nil,
        metrics: any MetricsFactory = MetricsSystem.factory,
        addRoutes: (Router<BasicRequestContext>) -> Void = { _ in }
    ) async throws -> SignupApplication {
        let logger =
            logger
            ?? {
                var logger = Logger(label: "signup-service")
                logger.logLevel = configuration.logLevel
                return logger
            }()
        let store: any SignupStore
        let queueStore: (any QueueStore)?
        if let url = configuration.databaseURL {
            let postgres = try await PostgresSignupStore.open(
                url: url, tablePrefix: configuration.tablePrefix, logger: logger)
            (store, queueStore) = (postgres, postgres.queueStore)
        } else {
            store = try await SQLiteSignupStore.open(path: configuration.databasePath, logger: logger)
            queueStore = nil  // the mailer's journal file
        }
        let mailer: VerificationMailer
        do {
            mailer = try await VerificationMailer(
                settings: configuration.mailer, queueStore: queueStore, clock: clock,
                observer: DeliveryObservers([
                    DeliveryLogObserver(logger: logger), DeliveryMetricsObserver(factory: metrics),
                ]))
        } catch {
            await store.close()
            throw error
        }
        let flow = SignupFlow(
            store: store, mailer: mailer, clock: clock, rules: configuration.rules,
            observer: MailObserver(logger: logger, metrics: metrics))
        let router = Router(context: BasicRequestContext.self)
        SignupRoutes(flow: flow).add(to: router)
        addRoutes(router)
        let application = Application(
            router: router,
            configuration: .init(
                address: .hostname(configuration.host, port: configuration.port),
                serverName: "signup-service"),
            services: [SignupMailService(flow: flow, purgeInterval: configuration.purgeInterval)],
            logger: logger)
        return SignupApplication(application: application, flow: flow)
    }
}
