import ArgumentParser
import Foundation
import HybridSync
import HybridSyncCore

#if canImport(Glibc)
    import Glibc
#endif

/// `hybridsync soak --minutes N`: the demo's hybrid job (BSP, CURVE) run fault-free as the reference,
/// then run again with fault injection on every worker-server message (drops, duplicates, reordering)
/// and a worker killed (SIGKILL) after a checkpoint and the job resumed from it. Prints steps, faults
/// injected, resends, duplicates the servers dropped, and every rank's memory (RSS) after warm-up and
/// at the end of the resumed job; fails if the final parameters differ from the reference's or a rank's
/// RSS grows more than 10% after warm-up. (Killed servers are `FailoverProcessTests`' business.)
struct SoakCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "soak", abstract: "Fault-injected hybrid job against a fault-free reference, with memory checks.")

    @Option(help: "Minutes for the whole soak (reference and faulty runs).") var minutes = 10.0
    @Option(help: "Epochs of each run, at least 2 (instead of sizing the runs from --minutes by a probe epoch of each kind).")
    var epochs: Int?
    @Option(help: "Workers.") var workers = 2
    @Option(help: "Dedicated servers.") var servers = 2
    @Option(help: "Faults injected into worker <-> server messages (HYBRIDSYNC_FAULTS syntax).") var faults = "drop=0.05,duplicate=0.05,reorder=0.05,seed=11"
    @Option(help: "Append a JSON line to this file.") var json: String?

    func run() throws {
        let root = packageRoot()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hybridsync-soak-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let stepsPerEpoch = 3200 / (16 * workers)
        func args(_ epochs: Int) -> [String] {
            [
                "train", "--servers", "\(servers)", "--placement", "dedicated", "--train-limit", "3200", "--test-limit", "100", "--hidden", "16",
                "--wide-rows", "4096", "--batch", "16", "--checksum", "--no-calibrate", "--consistency", "bsp", "--epochs", "\(epochs)", "--out", dir + "/out",
            ]
        }
        let job = SoakJob(root: root, np: workers + servers, log: dir + "/job.log")

        // A probe epoch of each kind sizes the runs (unless --epochs says): the reference and the faulty
        // run (slower by its resends) share the time.
        let env = ["HYBRIDSYNC_FAULTS": faults, "HYBRIDSYNC_RESEND_AFTER": "0.02", "HYBRIDSYNC_MAX_ATTEMPTS": "40", "HYBRIDSYNC_HEARTBEAT_TIMEOUT": "3"]
        var sizing = ""
        let epochs: Int
        if let given = self.epochs {
            guard given >= 2 else { throw ValidationError("--epochs must be at least 2 (a worker is killed and resumed in between)") }
            epochs = given
        } else {
            let probe = try job.run(args(1)), faultyProbe = try job.run(args(1), env: env)
            guard probe.status == 0, let perEpoch = probe.seconds(per: stepsPerEpoch) else { throw SoakFailure("the probe run failed:\n\(probe.tail)") }
            guard faultyProbe.status == 0, let faultyPerEpoch = faultyProbe.seconds(per: stepsPerEpoch) else {
                throw SoakFailure("the faulty probe run failed:\n\(faultyProbe.tail)")
            }
            epochs = Swift.max(3, Int(minutes * 60 / (perEpoch + faultyPerEpoch)))
            sizing = String(format: "; %.2f s per epoch fault-free, %.2f s with faults", perEpoch, faultyPerEpoch)
        }
        let steps = epochs * stepsPerEpoch
        emit(
            String(
                format: "soak: %d steps (%d epochs of %d%@), %d workers, %d dedicated servers, BSP, faults %@",
                steps, epochs, stepsPerEpoch, sizing, workers, servers, faults))
        let reference = try job.run(args(epochs))
        guard reference.status == 0, let want = reference.params else { throw SoakFailure("the reference run failed:\n\(reference.tail)") }

        // The faulty run, checkpointing; the last worker is killed once a checkpoint a fifth of the way in exists.
        let ckpt = dir + "/ckpt", every = Swift.max(stepsPerEpoch / 2, steps / 20 / stepsPerEpoch * stepsPerEpoch)
        let killAt = Swift.max(every, (steps / 5) / every * every)
        let victim = workers + servers - 1
        let first = try job.run(
            args(epochs) + ["--checkpoint-dir", ckpt, "--checkpoint-every", "\(every)"], env: env,
            killRank: victim, when: { FileManager.default.fileExists(atPath: ckpt + "/step-\(killAt)/manifest.json") })
        guard first.killed else { throw SoakFailure("the worker was never killed (run ended with \(first.status)):\n\(first.tail)") }
        let resumed = try job.run(args(epochs) + ["--checkpoint-dir", ckpt, "--checkpoint-every", "\(every)", "--resume"], env: env, sampleRSS: true)
        guard resumed.status == 0, let got = resumed.params else { throw SoakFailure("the resumed run failed:\n\(resumed.tail)") }

        var failures: [String] = []
        let faultsInjected = first.faults.merging(resumed.faults) { $0 + $1 }
        emit("worker at rank \(victim) killed after the checkpoint of step \(killAt); resumed from the newest checkpoint to step \(steps)")
        emit("faults injected: " + faultsInjected.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        emit("resends \(first.resends + resumed.resends), duplicates dropped by the servers \(first.duplicates + resumed.duplicates)")
        emit("parameters: reference \(want), faulty run \(got): \(want == got ? "equal" : "DIFFERENT")")
        if want != got { failures.append("the parameters differ from the fault-free run's") }
        emit(pad("rank", 6) + " " + pad("RSS after warm-up", 18) + " " + pad("RSS at end", 11) + " " + pad("growth", 7))
        for (rank, (start, end)) in resumed.rss.sorted(by: { $0.key < $1.key }) {
            let growth = Double(end) / Double(Swift.max(1, start)) - 1
            emit(
                pad("\(rank)", 6) + " " + pad(String(format: "%.1f MB", Double(start) / 1e6), 18) + " " + pad(String(format: "%.1f MB", Double(end) / 1e6), 11)
                    + " " + pad(String(format: "%+.1f%%", growth * 100), 7))
            if growth > 0.10 { failures.append("rank \(rank) grew \(String(format: "%.1f", growth * 100))% after warm-up") }
        }
        if resumed.rss.count != workers + servers { failures.append("RSS sampled for \(resumed.rss.count) of \(workers + servers) ranks") }
        var out = JSONLines(path: json)
        out.add([
            "bench": "soak", "minutes": minutes, "steps": steps, "faults": faults, "injected": faultsInjected.values.reduce(0, +),
            "resends": first.resends + resumed.resends, "duplicates": first.duplicates + resumed.duplicates, "equal": want == got,
            "max_rss_growth": resumed.rss.values.map { Double($0.1) / Double(Swift.max(1, $0.0)) - 1 }.max() ?? -1,
        ])
        try out.write()
        guard failures.isEmpty else {
            for f in failures { emit("SOAK FAILED: \(f)") }
            throw ExitCode(1)
        }
        emit("SOAK OK")
    }
}

struct SoakFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
