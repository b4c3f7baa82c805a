import CHybridSync
import Foundation
import HybridSyncCore

/// The objects C holds handles to. A handle is an id, never a pointer into Swift memory: a null, stale
/// (freed) or made-up handle finds nothing and gets `HS_INVALID_ARGUMENT` (`HS_ARG_HANDLE`), where a
/// pointer would be followed into freed memory.
///
/// `@unchecked Sendable` because C hands these handles to any thread: every access goes through the
/// table's lock, and each object serialises its own calls (`Job.lock`).
final class Handles: @unchecked Sendable {
    static let shared = Handles()

    private let lock = NSLock()
    private var next: UInt = 1
    private var objects: [UInt: AnyObject] = [:]

    /// A new handle for `object`.
    func add(_ object: AnyObject) -> OpaquePointer {
        lock.lock()
        defer { lock.unlock() }
        let id = next
        next += 1
        objects[id] = object
        return OpaquePointer(bitPattern: id)!
    }

    /// The object behind `handle`, if it is alive and a `T`.
    func get<T: AnyObject>(_ handle: OpaquePointer?, as type: T.Type, what: String) throws -> T {
        lock.lock()
        defer { lock.unlock() }
        guard let handle, let object = objects[UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(handle)))] as? T else {
            throw ABIError.argument(HS_ARG_HANDLE, "\(what) handle \(handle.map { "\($0)" } ?? "NULL") is not one the library gave out, or it was freed")
        }
        return object
    }

    /// Forgets `handle` (later uses of it are refused).
    func remove(_ handle: OpaquePointer?) {
        guard let handle else { return }
        lock.lock()
        defer { lock.unlock() }
        objects[UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(handle)))] = nil
    }
}
