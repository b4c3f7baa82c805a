import CHybridSync
import HybridSyncCore

/// Reading C arguments: every pointer, count and enum value is checked before use.
enum Arguments {
    /// A NUL-terminated name (`what` says which, for the error).
    static func string(_ p: UnsafePointer<CChar>?, _ what: String) throws -> String {
        guard let p else { throw ABIError.argument(HS_ARG_NAME, "\(what) is NULL") }
        return String(cString: p)
    }

    /// A count that fits in `Int`, and buffers of that many `T` without overflow.
    static func count<T>(_ n: Int, of _: T.Type, _ what: String) throws -> Int {
        guard n >= 0, n <= Int.max / Swift.max(MemoryLayout<T>.stride, 8) else {
            throw ABIError.argument(HS_ARG_RANGE, "\(what): count \(n) is out of range")
        }
        return n
    }

    /// `count` elements at `p` as an array (a NULL `p` only with count 0).
    static func array<T>(_ p: UnsafePointer<T>?, _ count: Int, _ what: String) throws -> [T] {
        let n = try Self.count(count, of: T.self, what)
        if n == 0 { return [] }
        guard let p else { throw ABIError.argument(HS_ARG_SHAPE, "\(what) is NULL with \(n) elements") }
        return Array(UnsafeBufferPointer(start: p, count: n))
    }

    /// A writable buffer of `count` elements (a NULL `p` only with count 0).
    static func buffer<T>(_ p: UnsafeMutablePointer<T>?, _ count: Int, _ what: String) throws -> UnsafeMutableBufferPointer<T> {
        let n = try Self.count(count, of: T.self, what)
        if n == 0 { return UnsafeMutableBufferPointer(start: nil, count: 0) }
        guard let p else { throw ABIError.argument(HS_ARG_SHAPE, "\(what) is NULL with \(n) elements") }
        return UnsafeMutableBufferPointer(start: p, count: n)
    }

    /// Raw bytes of `count` elements of `dtype` (a NULL `p` only with count 0).
    static func bytes(_ p: UnsafeRawPointer?, _ count: Int, _ dtype: DType, _ what: String) throws -> UnsafeRawBufferPointer {
        let n = try Self.count(count, of: UInt64.self, what)
        if n == 0 { return UnsafeRawBufferPointer(start: nil, count: 0) }
        guard let p else { throw ABIError.argument(HS_ARG_SHAPE, "\(what) is NULL with \(n) elements") }
        return UnsafeRawBufferPointer(start: p, count: n * dtype.byteWidth)
    }

    /// Row ids and the length of their row buffer, checked against the table's dimension (from
    /// `dimensions`; an unknown table is `unknownTable`) before anything is sent.
    static func rows(
        _ table: UnsafePointer<CChar>?, _ keys: UnsafePointer<UInt64>?, _ nkeys: Int, _ nvalues: Int, dimensions: [String: Int]
    ) throws -> (table: String, keys: [UInt64]) {
        let name = try string(table, "table name")
        let ks = try array(keys, nkeys, "keys of table '\(name)'")
        guard let dim = dimensions[name] else { throw HybridSyncError.unknownTable(name) }
        guard nvalues == ks.count * dim else {
            throw HybridSyncError.shapeMismatch(
                what: "rows of table '\(name)' (\(ks.count) keys x \(dim) floats)", expected: "\(ks.count * dim)", got: "\(nvalues)")
        }
        return (name, ks)
    }

    static func dtype(_ d: hs_dtype) throws -> DType {
        switch d {
        case HS_FLOAT32: return .float32
        case HS_FLOAT64: return .float64
        case HS_FLOAT16: return .float16
        case HS_INT32: return .int32
        case HS_INT64: return .int64
        default: throw ABIError.argument(HS_ARG_DTYPE, "dtype \(d.rawValue) is not an hs_dtype")
        }
    }

    static func op(_ o: hs_op) throws -> ReduceOp {
        switch o {
        case HS_SUM: return .sum
        case HS_AVERAGE: return .average
        case HS_MIN: return .min
        case HS_MAX: return .max
        default: throw ABIError.argument(HS_ARG_RANGE, "op \(o.rawValue) is not an hs_op")
        }
    }

    static func optimizer(_ o: hs_optimizer) throws -> OptimizerSpec {
        let lr = Double(o.learning_rate)
        switch o.kind {
        case HS_SGD: return .sgd(learningRate: lr)
        case HS_ADAGRAD: return .adagrad(learningRate: lr, epsilon: Double(o.epsilon), initialAccumulator: Double(o.initial_accumulator))
        case HS_ADAM: return .adam(learningRate: lr, beta1: Double(o.beta1), beta2: Double(o.beta2), epsilon: Double(o.epsilon))
        case HS_ACCUMULATE: return .accumulate
        default: throw ABIError.argument(HS_ARG_RANGE, "optimizer kind \(o.kind.rawValue) is not an hs_optimizer_kind")
        }
    }

    static func table(_ t: hs_table) throws -> TableSpec {
        let name = try string(t.name, "table name")
        let consistency: Consistency
        switch t.consistency {
        case HS_BSP: consistency = .bsp
        case HS_ASP: consistency = .asp
        case HS_SSP: consistency = .ssp(staleness: Int(t.staleness))
        default: throw ABIError.argument(HS_ARG_RANGE, "table '\(name)': consistency \(t.consistency.rawValue) is not an hs_consistency", subject: name)
        }
        let initializer: RowInitializer
        switch t.initializer {
        case HS_INIT_ZEROS: initializer = .zeros
        case HS_INIT_CONSTANT: initializer = .constant(Double(t.init_value))
        case HS_INIT_UNIFORM: initializer = .uniform(scale: Double(t.init_value))
        default: throw ABIError.argument(HS_ARG_RANGE, "table '\(name)': initializer \(t.initializer.rawValue) is not an hs_initializer", subject: name)
        }
        let encoding: RowEncoding
        switch t.row_encoding {
        case HS_ROWS_FLOAT32: encoding = .float32
        case HS_ROWS_FLOAT16: encoding = .float16
        case HS_ROWS_BFLOAT16: encoding = .bfloat16
        default: throw ABIError.argument(HS_ARG_RANGE, "table '\(name)': row encoding \(t.row_encoding.rawValue) is not an hs_row_encoding", subject: name)
        }
        let spec = TableSpec(
            name: name, dimension: Int(t.dimension), initializer: initializer, optimizer: try optimizer(t.optimizer),
            consistency: consistency, rowEncoding: encoding)
        try spec.validate()
        return spec
    }
}
