/// A reduction applied element-wise across ranks.
///
/// `average` is a sum followed by a division by the number of ranks; for integer element types the
/// division truncates toward zero, as Swift's `/` does.
public enum ReduceOp: Sendable, CaseIterable, WireCode {
    case sum, average, min, max

    /// The on-wire code.
    package var rawValue: UInt8 {
        switch self {
        case .sum: return 1
        case .average: return 2
        case .min: return 3
        case .max: return 4
        }
    }

    /// Parses a name as Swift prints it (also `avg`).
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
