import Foundation
import XCTest

/// The ring under real mpirun: 2-3 ranks x counts {0, 1, ranks-1, 17^3, 100_003} x every element type
/// and op, each compared with a serial reference and with MPI_Allreduce; then fusion of 120 mixed
/// tensors, random float32 within a stated bound, broadcast and all-gather.
final class RingAllreduceProcessTests: XCTestCase {
    func matrix(ranks: Int) throws {
        let result = try MPIJob.run(np: ranks, ["self-test-allreduce", "--counts", "0,1,r-1,4913,100003"])
        XCTAssertEqual(result.status, 0, "stderr: \(result.stderr.suffix(2000))")
        let cases = result.lines.filter { $0.hasPrefix("{\"case\":\"allreduce\"") }
        XCTAssertEqual(cases.count, 5 * 5 * 4, "every count x dtype x op reported")
        for line in cases {
            XCTAssertTrue(line.contains("\"wrong_vs_serial\":0,"), line)
            XCTAssertTrue(line.contains("\"wrong_vs_mpi\":0}") || line.contains("\"dtype\":\"float16\""), line)
        }
        for label in ["fusion", "random_float32", "broadcast", "allgather"] {
            XCTAssertTrue(result.lines.contains("{\"case\":\"\(label)\",\"ranks\":\(ranks),\"wrong\":0}"), "\(label) failed: \(result.stdout.suffix(1000))")
        }
        XCTAssertTrue(result.lines.contains("CASES 104 WRONG 0"), result.stdout.suffix(500).description)
    }

    // The full sweep at 1-16 ranks runs in process (RingInProcessTests); here the real transport at the
    // sizes that matter for it: 2 ranks (shared memory, single copy) and 3 (an odd ring, oversubscribed).
    func testTwoRanks() throws { try matrix(ranks: 2) }
    func testThreeRanks() throws { try matrix(ranks: 3) }

    /// The hierarchical all-reduce over real MPI: 4 ranks as 2 emulated hosts (rank r on host r % 2, so
    /// each host's ranks are not neighbours), buckets above the recursive-doubling size, every op,
    /// against the serial reference and MPI_Allreduce; then fusion, random float32, broadcast, all-gather.
    func testHierarchicalOverMPI() throws {
        let result = try MPIJob.run(np: 4, ["self-test-allreduce", "--counts", "100003", "--dtypes", "float32,int64", "--hosts", "2"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.lines.contains("HIERARCHICAL true"), result.stdout)
        XCTAssertTrue(result.lines.contains("CASES 12 WRONG 0"), result.stdout)
    }

    /// Tiny segments (one element of 4 bytes... 64 bytes) exercise many segments per chunk.
    func testSmallSegments() throws {
        let result = try MPIJob.run(np: 3, ["self-test-allreduce", "--counts", "4913", "--segment-bytes", "64"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.lines.contains("CASES 24 WRONG 0"), result.stdout)
    }
}
