import Foundation
import XCTest

/// The C ABI from a C program (`Tests/C/abi_check.c`), compiled here with `cc` against the header and
/// `libHybridSyncC.so` and run under mpirun with 1 dedicated server and 3 workers: collectives against
/// closed forms, a sparse round, a gradient-sync step and every error path it can reach alone; then
/// workers that disagree on a collective, which every worker must see as HS_MISMATCH followed by
/// HS_UNUSABLE, the job ending non-zero.
final class CABIProcessTests: XCTestCase {
    func testACProgramGetsClosedFormsARoundAndEveryErrorStatus() throws {
        let lib = URL(fileURLWithPath: HybridProcessTests.tool).deletingLastPathComponent().path
        XCTAssertTrue(FileManager.default.fileExists(atPath: lib + "/libHybridSyncC.so"), "the build made \(lib)/libHybridSyncC.so")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hybridsync-cabi-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let root = HybridProcessTests.root.path
        let program = dir + "/abi_check"
        let (cc, ccText) = try HybridProcessTests.run(
            "/usr/bin/env",
            [
                "cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-I", root + "/Sources/CHybridSync/include", root + "/Tests/C/abi_check.c",
                "-L", lib, "-lHybridSyncC", "-Wl,-rpath," + lib, "-lm", "-o", program,
            ])
        XCTAssertEqual(cc, 0, ccText)
        guard cc == 0 else { return }

        let (status, text) = try HybridProcessTests.mpirun(4, [], program: program)
        XCTAssertEqual(status, 0, text)
        XCTAssertEqual(text.components(separatedBy: "ABI OK worker").count - 1, 3, text)

        let (failed, failedText) = try HybridProcessTests.mpirun(4, ["mismatch"], program: program)
        XCTAssertNotEqual(failed, 0, failedText)
        XCTAssertEqual(failedText.components(separatedBy: "MISMATCH OK worker").count - 1, 3, failedText)
    }
}
