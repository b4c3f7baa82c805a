import ArgumentParser
import Foundation
import HybridSync
import HybridSyncCore

#if canImport(Glibc)
    import Glibc
#endif

/// `hybridsync soak --minutes N`: the demo's hybrid job (BSP, sealed links) run fault-free as the reference,
/// then run again under `Launch/mpirun --max-restarts` with fault injection on every worker-server
/// message (drops, duplicates, reordering), checkpointing in the background, while the soak kills
/// (SIGKILL) the scheduler's rank, a server and a worker, `--deaths` times each, in a seeded random
/// order, each at a random moment after a newer checkpoint than at the kill before exists. A server's
/// death is absorbed by its replica and the scheduler's by the standby scheduler (unless it took the
/// last copy of a shard with it); the others end the launch, and the relaunch resumes by itself from
/// the newest checkpoint. Prints steps, the kills, relaunches, faults injected, resends, duplicates the
/// servers dropped, and every rank's memory (RSS) after warm-up and at the end of the last launch;
/// fails if the final parameters differ from the reference's, a kill did not happen, or a rank's RSS
/// grows more than 10% after warm-up.
struct SoakCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "soak", abstract: "Fault-injected hybrid job against a fault-free reference, with memory checks.")

    @Option(help: "Minutes for the whole soak (reference and faulty runs).") var minutes = 10.0
    @Option(help: "Epochs of each run, at least 2 (instead of sizing the runs from --minutes by a probe epoch of each kind).")
    var epochs: Int?
    @Option(help: "Workers.") var workers = 2
    @Option(help: "Dedicated servers.") var servers = 2
    @Option(help: "Faults injected into worker <-> server messages (HYBRIDSYNC_FAULTS syntax).") var faults = "drop=0.05,duplicate=0.05,reorder=0.05,seed=11"
    @Option(help: "Deaths of each kind (the scheduler's rank, a server, a worker) in the faulty run.") var deaths = 3
    @Option(help: "Seed of the kills' order and moments.") var seed: UInt64 = 7
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
            // Each relaunch costs about the heartbeat timeout and a start-up (8 s here).
            let relaunchSeconds = Double(deaths * 2) * 8
            epochs = Swift.max(3, Int((minutes * 60 - relaunchSeconds) / (perEpoch + faultyPerEpoch)))
            sizing = String(format: "; %.2f s per epoch fault-free, %.2f s with faults", perEpoch, faultyPerEpoch)
        }
        let steps = epochs * stepsPerEpoch
        emit(
            String(
                format: "soak: %d steps (%d epochs of %d%@), %d workers, %d dedicated servers, BSP, faults %@",
                steps, epochs, stepsPerEpoch, sizing, workers, servers, faults))
        let reference = try job.run(args(epochs))
        guard reference.status == 0, let want = reference.params else { throw SoakFailure("the reference run failed:\n\(reference.tail)") }

        // The faulty run: the kills in a seeded random order per round, each after a newer checkpoint
        // than at the kill before (so every launch makes progress) and a random moment more.
        let lastWorker = ("worker", workers + servers - 1)
        let kinds = servers >= 2 ? [("scheduler", 0), ("server", 1), lastWorker] : [("scheduler", 0), lastWorker]
        var rng = SplitMix64(seed: seed)
        let plan = (0..<deaths).flatMap { _ in kinds.shuffled(using: &rng) }
        // The kills fall in the first half, so the last launch (whose memory is checked) runs the second.
        let ckpt = dir + "/ckpt", every = Swift.max(10, steps / (2 * (plan.count + 1)))
        let relaunches = plan.filter { $0.0 != "server" }.count
        var seen = -1, armed: Date?, killedAfter: [Int] = []
        let faulty = try job.run(
            args(epochs) + ["--checkpoint-dir", ckpt, "--checkpoint-every", "\(every)"], env: env, launch: ["--max-restarts", "\(relaunches + 2)"],
            kills: plan.map(\.1),
            due: { _ in
                let newest = Self.newestCheckpoint(in: ckpt)
                guard newest > seen else { return false }
                if armed == nil { armed = Date().addingTimeInterval(Double.random(in: 0..<0.3, using: &rng)) }
                guard Date() >= armed! else { return false }
                seen = newest
                armed = nil
                killedAfter.append(newest)
                return true
            }, sampleRSS: true)
        guard faulty.status == 0, let got = faulty.params else { throw SoakFailure("the faulty run failed:\n\(faulty.tail)") }

        var failures: [String] = []
        let faultsInjected = faulty.faults
        let kills = zip(plan, killedAfter).map { "\($0.0.0) (rank \($0.0.1)) after step \($0.1)" }
        emit("killed: " + (kills.isEmpty ? "none" : kills.joined(separator: ", ")) + "; checkpoints every \(every) steps")
        emit("relaunches \(faulty.restarts) (Launch/mpirun --max-restarts \(relaunches + 2)), standby scheduler takeovers \(faulty.takeovers)")
        if faulty.killed.count < plan.count { failures.append("\(faulty.killed.count) of \(plan.count) kills happened before the run ended") }
        emit("faults injected: " + faultsInjected.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        emit("resends \(faulty.resends), duplicates dropped by the servers \(faulty.duplicates)")
        emit("parameters: reference \(want), faulty run \(got): \(want == got ? "equal" : "DIFFERENT")")
        if want != got { failures.append("the parameters differ from the fault-free run's") }
        emit(pad("rank", 6) + " " + pad("RSS after warm-up", 18) + " " + pad("RSS at end", 11) + " " + pad("growth", 7))
        for (rank, (start, end)) in faulty.rss.sorted(by: { $0.key < $1.key }) {
            let growth = Double(end) / Double(Swift.max(1, start)) - 1
            emit(
                pad("\(rank)", 6) + " " + pad(String(format: "%.1f MB", Double(start) / 1e6), 18) + " " + pad(String(format: "%.1f MB", Double(end) / 1e6), 11)
                    + " " + pad(String(format: "%+.1f%%", growth * 100), 7))
            if growth > 0.10 { failures.append("rank \(rank) grew \(String(format: "%.1f", growth * 100))% after warm-up") }
        }
        if faulty.rss.count != workers + servers { failures.append("RSS sampled for \(faulty.rss.count) of \(workers + servers) ranks") }
        var out = JSONLines(path: json)
        out.add([
            "bench": "soak", "minutes": minutes, "steps": steps, "faults": faults, "injected": faultsInjected.values.reduce(0, +),
            "resends": faulty.resends, "duplicates": faulty.duplicates, "equal": want == got, "kills": faulty.killed.count,
            "relaunches": faulty.restarts, "takeovers": faulty.takeovers,
            "max_rss_growth": faulty.rss.values.map { Double($0.1) / Double(Swift.max(1, $0.0)) - 1 }.max() ?? -1,
        ])
        try out.write()
        guard failures.isEmpty else {
            for f in failures { emit("SOAK FAILED: \(f)") }
            throw ExitCode(1)
        }
        emit("SOAK OK")
    }
}

extension SoakCommand {
    /// The newest complete checkpoint's step under `root` (-1: none).
    static func newestCheckpoint(in root: String) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return names.compactMap { n -> Int? in
            guard n.hasPrefix("step-"), FileManager.default.fileExists(atPath: root + "/" + n + "/manifest.json") else { return nil }
            return Int(n.dropFirst(5))
        }.max() ?? -1
    }
}

struct SoakFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
