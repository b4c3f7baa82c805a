import Foundation
import XCTest

/// Starts `Launch/mpirun -np N hybridsync-testjobs ARGS` as a real multi-process job and collects its output.
struct MPIJob {
    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
        let seconds: Double
        var lines: [String] { stdout.split(separator: "\n").map(String.init) }
    }

    static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// The test-jobs binary (`HYBRIDSYNC_TESTJOBS_BIN`, set by Launch/test; else the debug build).
    static var binary: String {
        ProcessInfo.processInfo.environment["HYBRIDSYNC_TESTJOBS_BIN"] ?? packageRoot.appendingPathComponent(".build/debug/hybridsync-testjobs").path
    }

    /// Runs the job; kills it after `timeout` seconds (the test then fails on the status).
    static func run(np: Int, _ args: [String], timeout: Double = 300) throws -> Result {
        let process = Process()
        process.executableURL = packageRoot.appendingPathComponent("Launch/mpirun")
        process.arguments = ["-np", "\(np)", binary] + args
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let start = Date()
        try process.run()
        let outData = LockedData(), errData = LockedData()
        let group = DispatchGroup()
        for (pipe, sink) in [(out, outData), (err, errData)] {
            group.enter()
            DispatchQueue.global().async {
                sink.set(pipe.fileHandleForReading.readDataToEndOfFile())
                group.leave()
            }
        }
        let timer = DispatchWorkItem { if process.isRunning { process.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: timer)
        process.waitUntilExit()
        timer.cancel()
        group.wait()
        return Result(
            status: process.terminationStatus,
            stdout: String(decoding: outData.get(), as: UTF8.self),
            stderr: String(decoding: errData.get(), as: UTF8.self),
            seconds: Date().timeIntervalSince(start))
    }
}

final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func set(_ d: Data) { lock.lock(); data = d; lock.unlock() }
    func get() -> Data { lock.lock(); defer { lock.unlock() }; return data }
}
