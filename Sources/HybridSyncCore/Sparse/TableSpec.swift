/// How a server initialises a row on first touch. Deterministic: seeded by (table, key, element), so
/// every run and every server agrees.
public enum RowInitializer: Sendable, Equatable {
    case zeros
    case constant(Double)
    /// Uniform in `[-scale, scale)`.
    case uniform(scale: Double)
}

extension RowInitializer {
    /// Element `element` (counted over the whole row) of row `key` of the table with salt `tableSalt`.
    /// Servers and workers holding a table locally compute the same values.
    @inlinable
    package func value(tableSalt: UInt64, key: UInt64, element: Int) -> Float {
        switch self {
        case .zeros: return 0
        case .constant(let c): return Float(c)
        case .uniform(let scale):
            let u = Double(splitMix64(splitMix64(tableSalt ^ splitMix64(key)) &+ UInt64(element)) >> 11) * 0x1p-53
            return Float(scale * (2 * u - 1))
        }
    }
}

/// The splitmix64 finaliser: a fast 64-bit mixer (placement, initialisation, hashing).
@inlinable
package func splitMix64(_ x: UInt64) -> UInt64 {
    var z = x &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

/// A stable 64-bit hash of a table name (FNV-1a, mixed).
package func tableSalt(_ name: String) -> UInt64 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    for b in name.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
    return splitMix64(h)
}

/// The optimizer a server applies to pushed gradients.
public enum OptimizerSpec: Sendable, Equatable {
    /// `w -= lr * g`
    case sgd(learningRate: Double)
    /// `h += g^2; w -= lr * g / (sqrt(h) + eps)`
    case adagrad(learningRate: Double, epsilon: Double, initialAccumulator: Double)
    /// Lazy (sparse) Adam: moments and the step count are per row and advance only when the row is pushed.
    case adam(learningRate: Double, beta1: Double, beta2: Double, epsilon: Double)
    /// `w += g`: the server stores the running sum of what was pushed (tests, counters).
    case accumulate

    /// Throws `invalidArgument` naming the table and the setting when a hyperparameter is not finite or
    /// out of its range (a negative accumulator or epsilon, a beta outside [0, 1)).
    func validate(table: String) throws {
        func check(_ ok: Bool, _ what: String, _ value: Double) throws {
            guard ok, value.isFinite else { throw HybridSyncError.invalidArgument(.range, "table '\(table)': \(what) \(value) is out of range") }
        }
        switch self {
        case .sgd(let lr):
            try check(true, "learning rate", lr)
        case let .adagrad(lr, eps, h0):
            try check(true, "learning rate", lr)
            try check(eps >= 0, "Adagrad epsilon", eps)
            try check(h0 >= 0, "Adagrad initial accumulator", h0)
        case let .adam(lr, b1, b2, eps):
            try check(true, "learning rate", lr)
            try check((0..<1).contains(b1), "Adam beta1", b1)
            try check((0..<1).contains(b2), "Adam beta2", b2)
            try check(eps >= 0, "Adam epsilon", eps)
        case .accumulate:
            break
        }
    }
}

/// The consistency model a table's pulls obey, enforced by the servers with per-worker clocks.
public enum Consistency: Sendable, Equatable, CustomStringConvertible {
    /// Bulk synchronous: a pull at clock `c` sees exactly the pushes of steps `< c` of every worker.
    case bsp
    /// Stale synchronous: a worker at clock `c` is answered once the slowest worker reached `c - s`.
    case ssp(staleness: Int)
    /// Asynchronous: pushes apply at once, pulls never wait.
    case asp

    /// The largest allowed clock gap (`Int.max` for ASP).
    package var staleness: Int {
        switch self {
        case .bsp: return 0
        case .ssp(let s): return s
        case .asp: return Int.max
        }
    }

    public var description: String {
        switch self {
        case .bsp: return "bsp"
        case .ssp(let s): return "ssp(\(s))"
        case .asp: return "asp"
        }
    }

    /// Parses `bsp`, `asp`, `ssp:3` or `ssp(3)`.
    package init?(name: String) {
        let n = name.lowercased()
        if n == "bsp" { self = .bsp; return }
        if n == "asp" { self = .asp; return }
        let digits = n.drop { !$0.isNumber }.prefix { $0.isNumber }
        guard n.hasPrefix("ssp"), let s = Int(digits), s >= 0 else { return nil }
        self = .ssp(staleness: s)
    }
}

/// What a table does with a gradient row holding a NaN or an infinity.
public enum NonFinitePolicy: Sendable, Equatable, CaseIterable, WireCode {
    /// Refuse the whole push (or step) with an error naming the table and the row. The default.
    case reject
    /// Drop such rows and apply the rest; dropped rows are counted and logged.
    case skipRow
    /// Apply them: the table may then hold non-finite values.
    case allow

    /// The on-wire code.
    package var rawValue: UInt8 {
        switch self {
        case .reject: return 0
        case .skipRow: return 1
        case .allow: return 2
        }
    }
}

/// An embedding table as a worker declares it to the servers.
public struct TableSpec: Sendable, Equatable {
    public var name: String
    /// Elements per row.
    public var dimension: Int
    /// Element type (servers store float32 tables).
    public var dtype: DType
    public var initializer: RowInitializer
    public var optimizer: OptimizerSpec
    public var consistency: Consistency
    /// Rows longer than this are cut into pieces placed on different servers (set by the client;
    /// default 65,536 floats, 256 KiB).
    public var pieceLength: Int
    /// What to do with non-finite gradient rows (default: refuse them).
    public var nonFinite: NonFinitePolicy
    /// How rows travel to and from the servers (default float32; `float16` and `bfloat16` halve the
    /// bytes). Servers store float32 whatever this says.
    public var rowEncoding: RowEncoding

    public init(
        name: String, dimension: Int, dtype: DType = .float32, initializer: RowInitializer = .zeros,
        optimizer: OptimizerSpec = .sgd(learningRate: 0.01), consistency: Consistency = .asp,
        pieceLength: Int = 65_536, nonFinite: NonFinitePolicy = .reject, rowEncoding: RowEncoding = .float32
    ) {
        self.name = name
        self.nonFinite = nonFinite
        self.rowEncoding = rowEncoding
        self.dimension = dimension
        self.dtype = dtype
        self.initializer = initializer
        self.optimizer = optimizer
        self.consistency = consistency
        self.pieceLength = Swift.max(1, Swift.min(pieceLength, Swift.max(dimension, 1)))
    }

    /// Pieces per row.
    package var pieceCount: Int { (dimension + pieceLength - 1) / pieceLength }

    /// Elements of piece `j`.
    package func length(ofPiece j: Int) -> Int { Swift.min(pieceLength, dimension - j * pieceLength) }

    /// Checks the spec; throws `invalidArgument` naming the problem.
    package func validate() throws {
        guard !name.isEmpty, name.utf8.count <= 256 else { throw HybridSyncError.invalidArgument(.name, "table name must be 1-256 bytes") }
        guard dimension >= 1, dimension <= 1 << 28 else {
            throw HybridSyncError.invalidArgument(.range, "table '\(name)': dimension \(dimension) outside 1...\(1 << 28)")
        }
        guard dtype == .float32 else {
            throw HybridSyncError.invalidArgument(.dtype, "table '\(name)': servers store float32 tables, not \(dtype)")
        }
        if case .ssp(let s) = consistency, s < 0 {
            throw HybridSyncError.invalidArgument(.range, "table '\(name)': negative staleness \(s)")
        }
        try optimizer.validate(table: name)
    }
}
