/// The element types HybridSync can reduce, store and send.
public enum DType: Sendable, CaseIterable, WireCode {
    case float32, float64, float16, int32, int64

    /// The on-wire code.
    package var rawValue: UInt8 {
        switch self {
        case .float32: return 1
        case .float64: return 2
        case .float16: return 3
        case .int32: return 4
        case .int64: return 5
        }
    }

    /// Bytes per element.
    package var byteWidth: Int {
        switch self {
        case .float16: return 2
        case .float32, .int32: return 4
        case .float64, .int64: return 8
        }
    }

    /// Whether arithmetic on this type is exact (integers) or rounded (floating point).
    package var isExact: Bool { self == .int32 || self == .int64 }

    /// Parses a name as Swift prints it (`"float32"`, `"f32"`, ...).
    package init?(name: String) {
        switch name.lowercased() {
        case "float32", "f32", "float": self = .float32
        case "float64", "f64", "double": self = .float64
        case "float16", "f16", "half": self = .float16
        case "int32", "i32": self = .int32
        case "int64", "i64": self = .int64
        default: return nil
        }
    }
}
