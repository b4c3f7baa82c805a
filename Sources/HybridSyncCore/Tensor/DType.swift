/// The element types HybridSync can reduce, store and send.
///
/// The raw value is the on-wire code; it never changes once released.
public enum DType: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case float32 = 1
    case float64 = 2
    case float16 = 3
    case int32 = 4
    case int64 = 5

    /// Bytes per element.
    public var byteWidth: Int {
        switch self {
        case .float16: return 2
        case .float32, .int32: return 4
        case .float64, .int64: return 8
        }
    }

    /// Whether arithmetic on this type is exact (integers) or rounded (floating point).
    package var isExact: Bool { self == .int32 || self == .int64 }

    public var description: String {
        switch self {
        case .float32: return "float32"
        case .float64: return "float64"
        case .float16: return "float16"
        case .int32: return "int32"
        case .int64: return "int64"
        }
    }

    /// Parses a name as printed by `description` (`"float32"`, `"f32"`, ...).
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
