/// Rows of one table a worker pushes: `values` holds `keys.count * dimension` elements, row-major, in the
/// order of `keys`. Keys may repeat and come in any order; duplicates are summed before sending.
public struct SparseRows: Sendable {
    public var table: String
    public var keys: [UInt64]
    public var values: [Float]

    public init(table: String, keys: [UInt64], values: [Float]) {
        self.table = table
        self.keys = keys
        self.values = values
    }

    /// The same, naming the keys as a training loop does: embedding row ids.
    public init(table: String, ids: [UInt64], values: [Float]) {
        self.init(table: table, keys: ids, values: values)
    }
}

/// Keys of one table a worker wants to pull, any order, repeats allowed.
public struct RowQuery: Sendable {
    public var table: String
    public var keys: [UInt64]

    public init(table: String, keys: [UInt64]) {
        self.table = table
        self.keys = keys
    }
}

/// Pulled rows, in the order of the query's keys (repeats included): `values[i * dimension ..< (i + 1) * dimension]`
/// is the row of `keys[i]`.
public struct PulledRows: Sendable {
    public let table: String
    public let keys: [UInt64]
    public let dimension: Int
    public let values: [Float]

    package init(table: String, keys: [UInt64], dimension: Int, values: [Float]) {
        self.table = table
        self.keys = keys
        self.dimension = dimension
        self.values = values
    }

    /// The row of the `i`-th queried key.
    public func row(_ i: Int) -> ArraySlice<Float> { values[(i * dimension)..<((i + 1) * dimension)] }
}

/// What a server reports about itself (`KVWorker.serverStats`).
public struct ServerStats: Sendable {
    /// The shard reported on (shard s is server s's at the start; see `host`).
    public let server: Int
    /// Largest clock gap (requesting worker's clock minus the slowest worker's) when a BSP/SSP pull was answered.
    package let largestAnsweredGap: Int
    public let pushes: Int
    public let rows: Int
    package let waitingPulls: Int
    /// Bytes of request frames the server received from workers, and of reply frames it sent.
    public let bytesIn: Int
    public let bytesOut: Int
    /// Repeated requests (resends, duplicated messages) answered without being applied again.
    public let duplicates: Int
    /// Messages refused: malformed, invalid, claiming another node's id (`forgedSender`), or sealed
    /// messages the secure channel refused (replayed, reordered, altered).
    public let refused: Int
    /// Connections refused at the secure channel's handshake (no member key, or no secure channel).
    package let handshakesRefused: Int
    /// Gradient rows left out for holding a NaN or an infinity (tables with `NonFinitePolicy.skipRow`).
    public let nonFiniteRowsSkipped: Int
    /// The server that leads this shard now (`server` unless a failover moved it).
    public var host: Int = 0
    /// Live copies of this shard in its leader's view: 1 plus its backups (`PSConfig.replication`).
    public var copies: Int = 1
}
