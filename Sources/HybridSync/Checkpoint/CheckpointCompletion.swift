import Foundation
import HybridSyncCore
import HybridSyncPS
import Synchronization

/// Worker 0's background half of a checkpoint: once every part has been snapshotted and is being
/// written, a thread waits for the servers' shards, fsyncs every file, writes the manifest and moves
/// the directory in place, while the workers train on. `wait` gives its outcome.
final class CheckpointCompletion: Sendable {
    private let finished = DispatchSemaphore(value: 0)
    private let failure = Mutex<(any Error)?>(nil)

    /// Starts completing the checkpoint of `step` written into `tmp` (`worker` is worker 0's part,
    /// already there): the servers' parts come from `kv`.
    init(kv: KVWorker, root: String, tmp: String, step: Int, workers: Int, keep: Int, worker: CheckpointManifest.File) {
        let thread = Thread { [self] in
            do {
                try Timeline.span("checkpoint complete", row: "worker 0", detail: "step \(step)") {
                    var files: [CheckpointManifest.File] = []
                    for s in try kv.awaitCheckpointServers(into: tmp) { files.append(.init(name: s.file, size: s.size, crc32c: s.crc)) }
                    files.append(worker)
                    for f in files { try CheckpointDirectory.makeDurable(tmp + "/" + f.name) }
                    let manifest = CheckpointManifest(
                        format: CheckpointFormat.version, step: step, workers: workers, servers: kv.serverCount, files: files)
                    try manifest.write(directory: tmp)
                    try CheckpointDirectory.moveInPlace(tmp, root: root, step: step, keep: keep)
                }
            } catch {
                self.failure.withLock { $0 = error }
            }
            self.finished.signal()
        }
        thread.name = "hybridsync-checkpoint"
        thread.start()
    }

    /// Waits until the checkpoint is complete (or has failed); returns its failure, if any. The wait is
    /// bounded by the servers' deadline (`KVWorker.awaitCheckpointServers`).
    func wait() -> (any Error)? {
        finished.wait()
        finished.signal()
        return failure.withLock { $0 }
    }
}
