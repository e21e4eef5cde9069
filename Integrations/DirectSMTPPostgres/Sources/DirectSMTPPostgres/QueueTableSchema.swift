import DirectSMTP

/// The queue table's SQL: its versioned migrations, the columns a store relies on, and the
/// statements of each operation, for one validated table name.
///
/// Times are `timestamptz` (microseconds), so operators can query them as dates; the byte
/// content is `bytea`; envelope, Message-ID and reasons are plain `text` columns.
struct QueueTableSchema: Sendable {
    /// The table's name: a plain lower-case identifier, so it can go into SQL unescaped.
    let table: String
    /// `table`, double-quoted for SQL.
    let quoted: String

    /// The newest schema version this code knows.
    static var latestVersion: Int { migrations.count }
    /// The table recording each queue table's schema version (one row per queue table).
    static let versionTable = "directsmtp_schema_versions"
    /// The advisory lock key that serialises creating the version table across every server:
    /// `CREATE TABLE IF NOT EXISTS` alone races when two servers start at once.
    static let migrationLockKey: Int64 = 0x4449_5245_4354_534D  // "DIRECTSM"
    /// The first half of the two-part advisory lock of one table's migration (the second is
    /// the hash of the table's name).
    static let migrationLockClass: Int32 = 0x4453_4D51  // "DSMQ"

    /// Validates `table` (lower-case letters, digits and `_`, starting with a letter or `_`,
    /// at most 48 characters, so derived index names stay within PostgreSQL's 63).
    init(table: String) throws(QueueStoreError) {
        let valid =
            !table.isEmpty && table.utf8.count <= 48
            && table.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F }
            && !(table.utf8.first! >= 0x30 && table.utf8.first! <= 0x39)
        guard valid else {
            throw QueueStoreError(
                .invalidConfiguration,
                "the queue table name must be 1 to 48 lower-case letters, digits or '_', not starting with a digit")
        }
        self.table = table
        self.quoted = "\"\(table)\""
    }

    // MARK: Migrations

    /// The statements that bring the table from version `n` to `n + 1`, in order. A new
    /// version appends a step; released steps never change.
    static let migrations: [@Sendable (QueueTableSchema) -> [String]] = [
        { schema in
            let t = schema.quoted
            return [
                """
                CREATE TABLE IF NOT EXISTS \(t) (
                    id text PRIMARY KEY,
                    mail_from text NOT NULL,
                    rcpt_to text NOT NULL,
                    message_id text NOT NULL,
                    data bytea NOT NULL,
                    requires_8bitmime boolean NOT NULL DEFAULT false,
                    requires_smtputf8 boolean NOT NULL DEFAULT false,
                    created_at timestamptz NOT NULL,
                    next_attempt_at timestamptz NOT NULL,
                    attempts integer NOT NULL,
                    last_reason text,
                    lease_token text,
                    lease_expires_at timestamptz,
                    CONSTRAINT "\(schema.table)_lease_whole" CHECK ((lease_token IS NULL) = (lease_expires_at IS NULL))
                )
                """,
                // Claims walk this in due order among unleased entries: O(log n) to the first.
                """
                CREATE INDEX IF NOT EXISTS "\(schema.table)_due" ON \(t) (next_attempt_at, created_at)
                    WHERE lease_token IS NULL
                """,
                // Leased entries are few (in flight); claims look here for expired leases.
                """
                CREATE INDEX IF NOT EXISTS "\(schema.table)_leased" ON \(t) (lease_expires_at)
                    WHERE lease_token IS NOT NULL
                """,
                // Purges run every pass; without this each would read the whole table.
                """
                CREATE INDEX IF NOT EXISTS "\(schema.table)_created" ON \(t) (created_at)
                """,
                "COMMENT ON TABLE \(t) IS 'DirectSMTP delivery queue: deferred messages, leased to workers (lease_token, lease_expires_at)'",
            ]
        },
        // Version 2: the claim as a function, so each connection plans it once (PL/pgSQL
        // keeps its statements' plans for the session) instead of on every claim; planning
        // the claim cost more than running it.
        { schema in [schema.createClaimFunction] },
    ]

    /// The columns every statement relies on, with `format_type` spellings.
    static let requiredColumns: [(name: String, type: String)] = [
        ("id", "text"), ("mail_from", "text"), ("rcpt_to", "text"), ("message_id", "text"),
        ("data", "bytea"), ("requires_8bitmime", "boolean"), ("requires_smtputf8", "boolean"),
        ("created_at", "timestamp with time zone"), ("next_attempt_at", "timestamp with time zone"),
        ("attempts", "integer"), ("last_reason", "text"), ("lease_token", "text"),
        ("lease_expires_at", "timestamp with time zone"),
    ]

    /// What is wrong with a table whose columns are `found` (name → type), or nil if nothing.
    static func mismatch(table: String, found: [String: String]) -> String? {
        if found.isEmpty { return "the table \(table) does not exist" }
        var problems: [String] = []
        for column in requiredColumns {
            guard let type = found[column.name] else {
                problems.append("column \(column.name) is missing")
                continue
            }
            if type != column.type { problems.append("column \(column.name) is \(type), expected \(column.type)") }
        }
        if problems.isEmpty { return nil }
        return "the table \(table) does not match the queue schema: " + problems.joined(separator: "; ")
    }

    // MARK: Statements

    /// Every column, in the order ``PostgresQueueStore`` decodes rows.
    static let columns =
        "id, mail_from, rcpt_to, message_id, data, requires_8bitmime, requires_smtputf8, created_at, next_attempt_at, attempts, last_reason, lease_token, lease_expires_at"

    /// The same columns qualified by the alias `q`, for the claim's `RETURNING`.
    static let qualifiedColumns = columns.split(separator: ",").map { "q." + $0.trimmingCharacters(in: .whitespaces) }
        .joined(separator: ", ")

    /// Stores `count` unleased entries in one statement, 11 parameters each (the columns of
    /// ``insert`` up to `last_reason`). An id already stored is skipped, not an error: the
    /// statement answers with the ids it stored, so one duplicate fails its own caller
    /// only. (A multi-row `VALUES` plans in a fraction of the time `unnest` of twelve arrays
    /// takes, which counts when each statement carries a few rows.)
    func insertMany(count: Int) -> String {
        var rows: [String] = []
        rows.reserveCapacity(count)
        for row in 0..<count {
            let first = row * 11
            rows.append("(" + (1...11).map { "$\(first + $0)" }.joined(separator: ", ") + ")")
        }
        return """
            INSERT INTO \(quoted) (id, mail_from, rcpt_to, message_id, data, requires_8bitmime, requires_smtputf8,
                created_at, next_attempt_at, attempts, last_reason)
            VALUES \(rows.joined(separator: ", "))
            ON CONFLICT (id) DO NOTHING
            RETURNING id
            """
    }

    /// Deletes many leased entries in one statement, each only if its token still holds it:
    /// $1 ids, $2 tokens. Answers with the (id, token) pairs that no longer held their
    /// entry (fenced off), so each caller learns its own outcome.
    var deleteManyLeased: String {
        """
        WITH gone AS (
            DELETE FROM \(quoted) AS q USING unnest($1::text[], $2::text[]) AS l(id, token)
            WHERE q.id = l.id AND q.lease_token = l.token
            RETURNING q.id, q.lease_token
        )
        SELECT l.id, l.token FROM unnest($1::text[], $2::text[]) AS l(id, token)
        WHERE NOT EXISTS (SELECT 1 FROM gone WHERE gone.id = l.id AND gone.lease_token = l.token)
        """
    }

    /// Reschedules many leased entries in one statement, each only if its token still
    /// holds it: $1 ids, $2 tokens, $3 attempts, $4 next attempts, $5 last reasons, $6
    /// whether each has a last reason. Answers with the (id, token) pairs fenced off.
    var rescheduleMany: String {
        """
        WITH moved AS (
            UPDATE \(quoted) AS q SET attempts = u.attempts, next_attempt_at = u.next_attempt_at,
                last_reason = CASE WHEN u.has_reason THEN u.last_reason END,
                lease_token = NULL, lease_expires_at = NULL
            FROM unnest($1::text[], $2::text[], $3::integer[], $4::timestamptz[], $5::text[], $6::boolean[])
                AS u(id, token, attempts, next_attempt_at, last_reason, has_reason)
            WHERE q.id = u.id AND q.lease_token = u.token
            RETURNING q.id, u.token
        )
        SELECT l.id, l.token FROM unnest($1::text[], $2::text[]) AS l(id, token)
        WHERE NOT EXISTS (SELECT 1 FROM moved WHERE moved.id = l.id AND moved.token = l.token)
        """
    }

    var insert: String {
        "INSERT INTO \(quoted) (\(Self.columns)) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    }

    /// The claim function's name, quoted: `<table>_claim`.
    var claimFunction: String { "\"\(table)_claim\"" }

    /// Claims: due unleased entries in index order, and due entries whose lease expired,
    /// each locked with `SKIP LOCKED` so concurrent claimers pass each other's rows by; the
    /// earliest `$2` of both get a fresh token each. $1 now, $2 limit, $3 lease expiry.
    ///
    /// Each branch walks a partial index whose predicate is the branch's own (`_due`: no
    /// lease; `_leased`: a lease), so a claim reads O(log n + limit) index entries however
    /// many rows wait for later. The locked rows are updated by their `ctid` (the version
    /// the lock found), which saves a primary-key lookup per row. The body of
    /// ``claimFunction``; tests `EXPLAIN` it.
    var claimQuery: String {
        """
        WITH fresh AS MATERIALIZED (
            SELECT ctid, next_attempt_at, created_at FROM \(quoted)
            WHERE lease_token IS NULL AND next_attempt_at <= $1
            ORDER BY next_attempt_at, created_at LIMIT $2
            FOR UPDATE SKIP LOCKED
        ), stale AS MATERIALIZED (
            SELECT ctid, next_attempt_at, created_at FROM \(quoted)
            WHERE lease_token IS NOT NULL AND lease_expires_at <= $1 AND next_attempt_at <= $1
            ORDER BY next_attempt_at, created_at LIMIT $2
            FOR UPDATE SKIP LOCKED
        ), chosen AS (
            SELECT ctid FROM (SELECT * FROM fresh UNION ALL SELECT * FROM stale) AS due
            ORDER BY next_attempt_at, created_at LIMIT $2
        )
        UPDATE \(quoted) AS q SET lease_token = gen_random_uuid()::text, lease_expires_at = $3
        FROM chosen WHERE q.ctid = chosen.ctid
        RETURNING q.*
        """
    }

    /// `<table>_claim(now, limit, lease expiry, wait for flush)`: ``claimQuery``, and unless
    /// the fourth argument is true, `synchronous_commit` off for the calling transaction.
    ///
    /// The claim's commit then does not wait for its WAL flush (see
    /// ``PostgresQueueStore/Configuration/claimsWaitForFlush``): a claim stores no message
    /// and removes none; if the server crashes before the flush, the lease is undone and the
    /// entry is claimable again, as after a lease expiry. The next flushed commit (any
    /// complete or enqueue) makes the claim durable anyway.
    var createClaimFunction: String {
        """
        CREATE OR REPLACE FUNCTION \(claimFunction)(timestamptz, integer, timestamptz, boolean)
        RETURNS SETOF \(quoted) LANGUAGE plpgsql AS $claim$
        BEGIN
            IF NOT $4 THEN
                PERFORM set_config('synchronous_commit', 'off', true);
            END IF;
            RETURN QUERY \(claimQuery);
        END
        $claim$
        """
    }

    /// $1 now, $2 limit, $3 lease expiry, $4 whether the commit waits for its flush.
    var claim: String {
        "SELECT \(Self.columns) FROM \(claimFunction)($1, $2, $3, $4)"
    }

    /// $1 id, $2 token, $3 new expiry.
    var renew: String {
        "UPDATE \(quoted) SET lease_expires_at = $3 WHERE id = $1 AND lease_token = $2"
    }

    /// $1 cutoff, $2 now.
    var purge: String {
        """
        DELETE FROM \(quoted)
        WHERE created_at < $1 AND (lease_token IS NULL OR lease_expires_at <= $2)
        RETURNING \(Self.columns)
        """
    }

    /// Every entry due after $1 that no live lease holds becomes due at $1.
    var makeDue: String {
        """
        UPDATE \(quoted) SET next_attempt_at = $1
        WHERE next_attempt_at > $1 AND (lease_token IS NULL OR lease_expires_at <= $1)
        """
    }

    /// The earliest time an entry can be claimed or purged ($1: the maximum age in
    /// seconds), NULL when the table is empty. Indexes answer it: for unleased entries the
    /// first key of `_due` and of `_created` (one probe each); for leased ones (the few in
    /// flight) each entry of `_leased`, at its due time or expiry, whichever is first, but
    /// not before its lease ends. No message bytes are read.
    var nextDueDate: String {
        """
        SELECT least(
            (SELECT min(next_attempt_at) FROM \(quoted) WHERE lease_token IS NULL),
            (SELECT min(created_at) FROM \(quoted) WHERE lease_token IS NULL)
                + make_interval(secs => $1),
            (SELECT min(greatest(
                lease_expires_at, least(next_attempt_at, created_at + make_interval(secs => $1))))
             FROM \(quoted) WHERE lease_token IS NOT NULL)
        )
        """
    }

    var list: String {
        "SELECT \(Self.columns) FROM \(quoted) ORDER BY next_attempt_at, created_at"
    }

    /// The columns of the table as the search path finds it; $1 the table name.
    static let describeColumns = """
        SELECT attname::text, format_type(atttypid, atttypmod)
        FROM pg_attribute
        WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped
        """
}
