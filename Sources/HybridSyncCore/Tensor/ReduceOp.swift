/// A reduction applied element-wise across ranks.
///
/// `average` is a sum followed by a division by the number of ranks; for integer element types the
/// division truncates toward zero, as Swift's `/` does.
public enum ReduceOp: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case sum = 1
    case average = 2
    case min = 3
    case max = 4

    public var description: String {
        switch self {
        case .sum: return "sum"
        case .average: return "average"
        case .min: return "min"
        case .max: return "max"
        }
    }

    /// Parses a name as printed by `description` (also `avg`).
    package init?(name: String) {
        switch name.lowercased() {
        case "sum": self = .sum
        case "average", "avg", "mean": self = .average
        case "min": self = .min
        case "max": self = .max
        default: return nil
        }
    }
}
