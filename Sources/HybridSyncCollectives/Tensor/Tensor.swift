import HybridSyncCore

/// A named, contiguous, 64-byte aligned tensor of one element type, reduced in place.
///
/// `Tensor` owns its memory. It is a reference type so a batch of tensors can be reduced in place
/// through the fusion buffer; it is not safe to read or write a tensor while a collective on it runs.
public final class Tensor {
    /// The name ranks agree on; unique within a batch.
    public let name: String
    /// The element type.
    public let dtype: DType
    /// The number of elements.
    public let count: Int
    /// The tensor's storage (`count * dtype.byteWidth` bytes). It changes only if a collective on the
    /// tensor failed in a way that forced its old storage into quarantine (see `quarantineStorage`).
    package private(set) var rawPointer: UnsafeMutableRawPointer

    /// A zero-filled tensor.
    public init(name: String, dtype: DType, count: Int) throws {
        guard count >= 0 else { throw HybridSyncError.invalidArgument(.shape, "tensor '\(name)' has negative count \(count)") }
        guard name.utf8.count <= TensorDescriptor.maxNameBytes else {
            throw HybridSyncError.invalidArgument(.name, "tensor name longer than \(TensorDescriptor.maxNameBytes) bytes")
        }
        self.name = name
        self.dtype = dtype
        self.count = count
        let bytes = Swift.max(count * dtype.byteWidth, 1)
        rawPointer = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        rawPointer.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
    }

    /// A tensor holding a copy of `values`.
    public convenience init<T: TensorElement>(name: String, values: [T]) throws {
        try self.init(name: name, dtype: T.dtype, count: values.count)
        values.withUnsafeBytes { src in
            if let base = src.baseAddress { rawPointer.copyMemory(from: base, byteCount: src.count) }
        }
    }

    deinit { rawPointer.deallocate() }

    /// Abandons the current storage for good (it is never freed, so a transfer that could not be
    /// cancelled can never write into memory someone else owns) and gives the tensor fresh zeroed
    /// storage. Called by the dense path after a timeout that left transfers on this tensor unconfirmed.
    func quarantineStorage() {
        let bytes = Swift.max(count * dtype.byteWidth, 1)
        rawPointer = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        rawPointer.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
    }

    /// Bytes of data.
    public var byteCount: Int { count * dtype.byteWidth }

    /// The descriptor ranks agree on for this tensor reduced with `op`.
    package func descriptor(op: ReduceOp) -> TensorDescriptor {
        TensorDescriptor(name: name, dtype: dtype, count: count, op: op)
    }

    /// Calls `body` with the elements typed as `T`. Throws `shapeMismatch` if `T` is not the dtype.
    public func withElements<T: TensorElement, R>(
        as type: T.Type, _ body: (UnsafeMutableBufferPointer<T>) throws -> R
    ) throws -> R {
        guard T.dtype == dtype else {
            throw HybridSyncError.shapeMismatch(what: "element type of tensor '\(name)'", expected: "\(dtype)", got: "\(T.dtype)")
        }
        return try body(UnsafeMutableBufferPointer(start: rawPointer.assumingMemoryBound(to: T.self), count: count))
    }

    /// A copy of the elements as an array of `T`.
    public func values<T: TensorElement>(as type: T.Type) throws -> [T] {
        try withElements(as: T.self) { Array($0) }
    }

    /// Overwrites the elements with `values`, which must have `count` elements of this dtype.
    public func assign<T: TensorElement>(_ values: [T]) throws {
        guard values.count == count else {
            throw HybridSyncError.shapeMismatch(what: "element count of tensor '\(name)'", expected: "\(count)", got: "\(values.count)")
        }
        try withElements(as: T.self) { dst in _ = dst.update(fromContentsOf: values) }
    }
}
