/// A numeric type HybridSync can reduce element-wise.
///
/// Conformances exist for `Float`, `Double`, `Float16`, `Int32` and `Int64`; the `dtype` ties each to
/// its wire code. Integer sums wrap on overflow (`&+`), as MPI's do, rather than trapping.
public protocol TensorElement: Sendable, Equatable, Comparable {
    /// The wire code of this type.
    static var dtype: DType { get }
}

/// The arithmetic the reduction kernels need, for the same five types (not part of the public API).
package protocol ReducibleElement: TensorElement {
    /// The neutral element of `+`.
    static var zero: Self { get }
    /// Sum that never traps (wrapping for integers).
    static func reduceAdd(_ a: Self, _ b: Self) -> Self
    /// Divides by a rank count, for `ReduceOp.average`.
    static func divide(_ a: Self, by n: Int) -> Self
    /// Converts a small integer exactly (test data and initializers).
    init(exactly small: Int)
    /// A Double view of the value (for comparisons with a tolerance).
    var asDouble: Double { get }
}

extension Float: TensorElement, ReducibleElement {
    public static var dtype: DType { .float32 }
    @inlinable package static func reduceAdd(_ a: Float, _ b: Float) -> Float { a + b }
    @inlinable package static func divide(_ a: Float, by n: Int) -> Float { a / Float(n) }
    package init(exactly small: Int) { self = Float(small) }
    package var asDouble: Double { Double(self) }
}

extension Double: TensorElement, ReducibleElement {
    public static var dtype: DType { .float64 }
    @inlinable package static func reduceAdd(_ a: Double, _ b: Double) -> Double { a + b }
    @inlinable package static func divide(_ a: Double, by n: Int) -> Double { a / Double(n) }
    package init(exactly small: Int) { self = Double(small) }
    package var asDouble: Double { self }
}

extension Float16: TensorElement, ReducibleElement {
    public static var dtype: DType { .float16 }
    @inlinable package static func reduceAdd(_ a: Float16, _ b: Float16) -> Float16 { a + b }
    @inlinable package static func divide(_ a: Float16, by n: Int) -> Float16 { Float16(Float(a) / Float(n)) }
    package init(exactly small: Int) { self = Float16(Float(small)) }
    package var asDouble: Double { Double(Float(self)) }
}

extension Int32: TensorElement, ReducibleElement {
    public static var dtype: DType { .int32 }
    @inlinable package static func reduceAdd(_ a: Int32, _ b: Int32) -> Int32 { a &+ b }
    @inlinable package static func divide(_ a: Int32, by n: Int) -> Int32 { a / Int32(truncatingIfNeeded: n) }
    package init(exactly small: Int) { self = Int32(truncatingIfNeeded: small) }
    package var asDouble: Double { Double(self) }
}

extension Int64: TensorElement, ReducibleElement {
    public static var dtype: DType { .int64 }
    @inlinable package static func reduceAdd(_ a: Int64, _ b: Int64) -> Int64 { a &+ b }
    @inlinable package static func divide(_ a: Int64, by n: Int) -> Int64 { a / Int64(n) }
    package init(exactly small: Int) { self = Int64(small) }
    package var asDouble: Double { Double(self) }
}
