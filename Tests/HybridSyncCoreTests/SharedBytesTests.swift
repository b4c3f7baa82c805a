import HybridSyncCore
import XCTest

/// The buffers messages leave in: views of a caller's array, pooled buffers, prefixes.
final class SharedBytesTests: XCTestCase {
    /// A view shows the array as it was: changing the caller's array afterwards copies it first.
    func testAViewKeepsTheArrayAsItWas() {
        var values: [Float] = [1, 2, 3, 4]
        let view = SharedBytes.viewing(values)
        values[0] = 99
        values.append(5)
        let seen = Array(UnsafeBufferPointer(start: view.pointer.assumingMemoryBound(to: Float.self), count: view.count / 4))
        XCTAssertEqual(seen, [1, 2, 3, 4])
        XCTAssertEqual(view.prefix(8).count, 8)
        XCTAssertEqual(view.prefix(100).count, 16)
        XCTAssertEqual(SharedBytes.viewing([UInt64]()).count, 0)
    }

    /// A large buffer given back is handed out again (same address, pages already mapped); small ones
    /// are not pooled; the pool keeps no more than its limits.
    func testThePoolReusesLargeBuffersWithinItsLimits() {
        let pool = BufferPool(maxCachedBytes: 1 << 20, perClass: 2)
        let (a, capacity) = pool.take(bytes: 100_000)
        XCTAssertEqual(capacity, 131_072)
        pool.give(a, capacity: capacity)
        XCTAssertEqual(pool.idleBytes, 131_072)
        let (b, again) = pool.take(bytes: 131_072)
        XCTAssertEqual(b, a)
        XCTAssertEqual(again, 131_072)
        XCTAssertEqual(pool.idleBytes, 0)
        let (small, none) = pool.take(bytes: 1000)
        XCTAssertEqual(none, 0)
        small.deallocate()
        // Three buffers of one class: the third is freed, not kept (two per class).
        let three = (0..<3).map { _ in pool.take(bytes: 70_000) }
        for (p, c) in three { pool.give(p, capacity: c) }
        XCTAssertEqual(pool.idleBytes, 2 * 131_072)
        pool.give(b, capacity: again)
        // Over the byte limit: 2 MiB class is not kept at all.
        let (huge, hugeCapacity) = pool.take(bytes: 2 << 20)
        pool.give(huge, capacity: hugeCapacity)
        XCTAssertEqual(pool.idleBytes, 2 * 131_072)
    }

    /// Bytes written into a pooled buffer read back whole, and the buffer returns to its pool when
    /// the last holder lets go (and is the one handed out next).
    func testPooledBytesReturnToTheirPool() {
        let pool = BufferPool()
        var address: UnsafeMutableRawPointer?
        do {
            let bytes = SharedBytes.pooled(count: 200_000, from: pool) { p in
                for i in 0..<200_000 { p.storeBytes(of: UInt8(truncatingIfNeeded: i * 7), toByteOffset: i, as: UInt8.self) }
            }
            let raw = UnsafeRawBufferPointer(start: bytes.pointer, count: bytes.count)
            XCTAssertTrue(raw.indices.allSatisfy { raw[$0] == UInt8(truncatingIfNeeded: $0 * 7) })
            address = bytes.pointer
            XCTAssertEqual(pool.idleBytes, 0)
        }
        XCTAssertEqual(pool.idleBytes, 262_144)
        XCTAssertEqual(SharedBytes.pooled(count: 150_000, from: pool) { _ in }.pointer, address)
    }
}
