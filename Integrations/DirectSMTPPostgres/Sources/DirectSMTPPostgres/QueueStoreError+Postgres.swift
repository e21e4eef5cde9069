import DirectSMTP

extension QueueStoreError.Code {
    /// The database could not be reached, refused the connection, dropped it mid-call, or did
    /// not answer within the store's operation timeout. The call may or may not have taken
    /// effect on the server; an `enqueue` that throws it must be treated as not queued.
    public static let databaseUnavailable = Self(rawValue: "database-unavailable")
    /// The server refused the user name or password.
    public static let authenticationFailed = Self(rawValue: "authentication-failed")
    /// The queue table does not have the columns or types this version expects (for
    /// example a column dropped by hand). Nothing was changed.
    public static let schemaMismatch = Self(rawValue: "schema-mismatch")
    /// The table was migrated by a newer version of this package; this one will not touch it.
    public static let schemaTooNew = Self(rawValue: "schema-too-new")
    /// A configuration the store cannot use: a table name that is not a plain SQL
    /// identifier, or a connection URL it cannot read.
    public static let invalidConfiguration = Self(rawValue: "invalid-configuration")
    /// Any other error the server reported; the message carries its SQLSTATE.
    public static let databaseError = Self(rawValue: "database-error")
}
