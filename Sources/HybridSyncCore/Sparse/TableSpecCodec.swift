extension TableSpec {
    /// Appends the spec to a meta frame.
    package func encode(into w: inout ByteWriter) {
        w.string(name)
        w.u32(UInt32(dimension))
        w.u8(dtype.rawValue)
        w.u32(UInt32(pieceLength))
        switch initializer {
        case .zeros: w.u8(0); w.f64(0)
        case .constant(let v): w.u8(1); w.f64(v)
        case .uniform(let s): w.u8(2); w.f64(s)
        }
        switch optimizer {
        case .sgd(let lr): w.u8(0); w.f64(lr); w.f64(0); w.f64(0); w.f64(0)
        case let .adagrad(lr, eps, acc): w.u8(1); w.f64(lr); w.f64(eps); w.f64(acc); w.f64(0)
        case let .adam(lr, b1, b2, eps): w.u8(2); w.f64(lr); w.f64(b1); w.f64(b2); w.f64(eps)
        case .accumulate: w.u8(3); w.f64(0); w.f64(0); w.f64(0); w.f64(0)
        }
        switch consistency {
        case .bsp: w.u8(0); w.u32(0)
        case .ssp(let s): w.u8(1); w.u32(UInt32(s))
        case .asp: w.u8(2); w.u32(0)
        }
        w.u8(nonFinite.rawValue)
        w.u8(rowEncoding.rawValue)
    }

    /// Reads a spec written by `encode`; throws `malformedMessage` or `invalidArgument`.
    package static func decode(from r: inout ByteReader) throws -> TableSpec {
        let name = try r.string("table name", maxLength: 256)
        let dim = Int(try r.u32("dimension"))
        let d = try r.u8("dtype")
        guard let dtype = DType(rawValue: d) else { throw HybridSyncError.malformedMessage(.field, "table '\(name)': unknown dtype \(d)") }
        let piece = Int(try r.u32("piece length"))
        let ik = try r.u8("initializer"), iv = try r.f64("initializer value")
        let initializer: RowInitializer
        switch ik {
        case 0: initializer = .zeros
        case 1: initializer = .constant(iv)
        case 2: initializer = .uniform(scale: iv)
        default: throw HybridSyncError.malformedMessage(.field, "table '\(name)': unknown initializer \(ik)")
        }
        let ok = try r.u8("optimizer")
        let a = try r.f64("p1"), b = try r.f64("p2"), c = try r.f64("p3"), e = try r.f64("p4")
        let optimizer: OptimizerSpec
        switch ok {
        case 0: optimizer = .sgd(learningRate: a)
        case 1: optimizer = .adagrad(learningRate: a, epsilon: b, initialAccumulator: c)
        case 2: optimizer = .adam(learningRate: a, beta1: b, beta2: c, epsilon: e)
        case 3: optimizer = .accumulate
        default: throw HybridSyncError.malformedMessage(.field, "table '\(name)': unknown optimizer \(ok)")
        }
        let ck = try r.u8("consistency"), s = Int(try r.u32("staleness"))
        let consistency: Consistency
        switch ck {
        case 0: consistency = .bsp
        case 1: consistency = .ssp(staleness: s)
        case 2: consistency = .asp
        default: throw HybridSyncError.malformedMessage(.field, "table '\(name)': unknown consistency \(ck)")
        }
        let nf = try r.u8("non-finite policy")
        guard let nonFinite = NonFinitePolicy(rawValue: nf) else {
            throw HybridSyncError.malformedMessage(.field, "table '\(name)': unknown non-finite policy \(nf)")
        }
        // (Specs in checkpoints written before row encodings existed end here: float32.)
        let re = r.remaining > 0 ? try r.u8("row encoding") : RowEncoding.float32.rawValue
        guard let rowEncoding = RowEncoding(rawValue: re) else { throw HybridSyncError.malformedMessage(.field, "table '\(name)': unknown row encoding \(re)") }
        let spec = TableSpec(
            name: name, dimension: dim, dtype: dtype, initializer: initializer,
            optimizer: optimizer, consistency: consistency, pieceLength: piece, nonFinite: nonFinite,
            rowEncoding: rowEncoding)
        guard spec.pieceLength == piece else {
            throw HybridSyncError.malformedMessage(.field, "table '\(name)': piece length \(piece) invalid for dimension \(dim)")
        }
        try spec.validate()
        return spec
    }
}
