import Foundation
import XCTest

/// Runs `hybridsync ps local ...` (scheduler, servers and workers as real processes over ZeroMQ on loopback).
enum PSJob {
    struct Result {
        let status: Int32
        let output: String
        var lines: [String] { output.split(separator: "\n").map(String.init) }
        func results(_ check: String) -> [String] { lines.filter { $0.contains("RESULT \(check) ") } }
    }

    static var binary: String {
        ProcessInfo.processInfo.environment["HYBRIDSYNC_BIN"]
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build/debug/hybridsync").path
    }

    /// The test-jobs binary whose `ps-check` the workers run.
    static var testJobs: String {
        ProcessInfo.processInfo.environment["HYBRIDSYNC_TESTJOBS_BIN"]
            ?? URL(fileURLWithPath: binary).deletingLastPathComponent().appendingPathComponent("hybridsync-testjobs").path
    }

    static func run(_ args: [String], env extra: [String: String] = [:]) throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["ps", "local"] + args
        p.environment = ProcessInfo.processInfo.environment.merging(extra) { $1 }
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, output: String(decoding: data, as: UTF8.self))
    }

    /// Runs `check` with `servers` x `workers` and asserts every worker reported ok and the job exited 0.
    @discardableResult
    static func expectOK(
        _ check: String, servers: Int, workers: Int, extra: [String] = [], checkArgs: [String] = [],
        file: StaticString = #filePath, line: UInt = #line
    ) throws -> Result {
        let r = try run(
            ["--servers", "\(servers)", "--workers", "\(workers)", "--timeout", "90"] + extra
                + ["--", testJobs, "ps-check", "--case", check] + checkArgs)
        XCTAssertEqual(r.status, 0, "\(check) \(servers)x\(workers): \(r.output)", file: file, line: line)
        let results = r.results(check)
        XCTAssertEqual(results.count, workers, "\(check): every worker reports: \(r.output)", file: file, line: line)
        for l in results { XCTAssertTrue(l.contains("RESULT \(check) ok"), l, file: file, line: line) }
        XCTAssertTrue(r.output.contains("LOCAL JOB OK"), r.output, file: file, line: line)
        return r
    }
}
