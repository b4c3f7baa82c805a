/// How a table's rows travel between workers and servers. Servers always store and update float32;
/// a 16-bit encoding halves the bytes of every push and pull of the table's values (keys are
/// unchanged) at the cost of rounding each value once each way.
///
/// - `float16`: IEEE half precision, 11 significant bits, largest finite value 65,504 (a larger value
///   becomes an infinity, which the table's `NonFinitePolicy` then handles like any other).
/// - `bfloat16`: float32's exponent with 8 significant bits: float32's whole range, less precision.
///
/// Both round to nearest, ties to even.
public enum RowEncoding: Sendable, Equatable, CaseIterable, WireCode {
    case float32, float16, bfloat16

    /// The wire's element-type code (float32's and float16's are `DType`'s).
    package var rawValue: UInt8 {
        switch self {
        case .float32: return 1
        case .float16: return 3
        case .bfloat16: return 6
        }
    }

    /// Bytes per element on the wire.
    package var byteWidth: Int { self == .float32 ? 4 : 2 }

    /// Parses `float32`, `float16` (or `f16`, `half`), `bfloat16` (or `bf16`).
    package init?(name: String) {
        switch name.lowercased() {
        case "float32", "f32": self = .float32
        case "float16", "f16", "half": self = .float16
        case "bfloat16", "bf16": self = .bfloat16
        default: return nil
        }
    }

    /// Writes `count` floats from `source` to `destination` in this encoding (`count * byteWidth` bytes).
    package func encode(_ source: UnsafePointer<Float>, count: Int, into destination: UnsafeMutableRawPointer) {
        switch self {
        case .float32:
            destination.copyMemory(from: source, byteCount: count * 4)
        case .float16:
            let out = destination.bindMemory(to: UInt16.self, capacity: count)
            for i in 0..<count { out[i] = Float16(source[i]).bitPattern.littleEndian }
        case .bfloat16:
            let out = destination.bindMemory(to: UInt16.self, capacity: count)
            for i in 0..<count { out[i] = Self.bfloat16Bits(source[i]).littleEndian }
        }
    }

    /// Reads `count` elements of this encoding from `source` (any alignment) into floats.
    package func decode(_ source: UnsafeRawPointer, count: Int, into destination: UnsafeMutablePointer<Float>) {
        switch self {
        case .float32:
            UnsafeMutableRawPointer(destination).copyMemory(from: source, byteCount: count * 4)
        case .float16:
            for i in 0..<count {
                destination[i] = Float(Float16(bitPattern: UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))))
            }
        case .bfloat16:
            for i in 0..<count {
                let bits = UInt32(UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16
                destination[i] = Float(bitPattern: bits)
            }
        }
    }

    /// `x` rounded to bfloat16 (nearest, ties to even); a NaN stays a (quiet) NaN.
    @inline(__always)
    static func bfloat16Bits(_ x: Float) -> UInt16 {
        let bits = x.bitPattern
        if x.isNaN { return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040 }
        let rounded = bits &+ 0x7FFF &+ ((bits >> 16) & 1)
        return UInt16(truncatingIfNeeded: rounded >> 16)
    }
}
