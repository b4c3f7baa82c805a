import Foundation
import HybridSyncCore
import HybridSyncPS

/// The libFuzzer target: one input is one message (frames cut from the bytes by `FuzzInput`), fed
/// through the wire decoder to a joined server, a started scheduler and a joined worker, as their node
/// shells would feed it. A trap, a crash or a sanitizer report is a finding; refusals are the expected
/// outcome. Build and run with `Launch/fuzz SECONDS`; the seed corpus is `Tests/Fuzz/corpus`.
///
/// Without `-DFUZZING` (an ordinary `swift build`) the program writes the seed corpus instead:
/// `.build/debug/hybridsync-fuzz Tests/Fuzz/corpus`.
enum FuzzNodes {
    nonisolated(unsafe) static var server = FuzzNodes.makeServer()
    nonisolated(unsafe) static var scheduler = FuzzNodes.makeScheduler()
    nonisolated(unsafe) static var worker = FuzzNodes.makeWorker()
    static let limit = 1 << 16

    /// Feeds one input to all three machines.
    static func feed(_ bytes: UnsafeRawBufferPointer) {
        let frames = FuzzInput.frames(bytes)
        for (peer, which) in [(Peer.routed([7]), 0), (Peer.routed([8]), 1), (Peer.link(1), 2)] {
            let opened = InboundEnvelope.open(InboundMessage(from: peer, frames: frames), maxMessageBytes: limit)
            let directives: [NodeDirective]
            switch (which, opened) {
            case (0, .success(let e)): directives = server.onMessage(e, now: 1)
            case (0, .failure(let r)): directives = server.onRejected(r, now: 1)
            case (1, .success(let e)): directives = scheduler.onMessage(e, now: 1)
            case (1, .failure(let r)): directives = scheduler.onRejected(r, now: 1)
            case (_, .success(let e)): directives = worker.onMessage(e, now: 1)
            case (_, .failure(let r)): directives = worker.onRejected(r, now: 1)
            }
            // Release what the machines allocated for their answers, as the transport would.
            for d in directives { if case let .send(_, m) = d { m.payload.forEach { $0.discard() } } }
        }
    }

    static func makeServer() -> ServerMachine {
        var config = PSConfig()
        config.workers = 2
        config.limits.maxBytes = 64 << 20
        config.maxMessageBytes = limit
        var s = ServerMachine(config: config, endpoint: "memory://s0")
        _ = s.start(now: 0)
        let book = OutboundMessage(
            MessageHeader(kind: .addressBook, sender: .scheduler, seq: 1),
            .addressBook(id: NodeID(.server, 0), servers: ["memory://s0", "memory://s1"], workers: 2))
        deliver(book, from: .link(0)) { s.onMessage($0, now: 0) }
        // Primary of shard 0 (forwarding to server 1) and backup of shard 1: both replication paths.
        let view = OutboundMessage(
            MessageHeader(kind: .view, sender: .scheduler, seq: 0),
            .view(.initial(servers: 2, replication: 1), note: ""))
        deliver(view, from: .link(0)) { s.onMessage($0, now: 0) }
        let declare = OutboundMessage(
            MessageHeader(kind: .declare, sender: NodeID(.worker, 0), seq: 1),
            .declare(FuzzSeeds.tables))
        deliver(declare, from: .routed([7])) { s.onMessage($0, now: 0) }
        return s
    }

    static func makeScheduler() -> SchedulerMachine {
        var s = SchedulerMachine(servers: 1, workers: 1, heartbeatTimeout: 1e9, startTimeout: 1e9)
        _ = s.start(now: 0)
        for (peer, role) in [(Peer.routed([1]), Role.server), (.routed([2]), .worker)] {
            let reg = OutboundMessage(
                MessageHeader(kind: .register, sender: .unassigned(role), seq: 1),
                .register(role: role, address: "memory://x", preferredIndex: -1))
            deliver(reg, from: peer) { s.onMessage($0, now: 0) }
        }
        return s
    }

    static func makeWorker() -> WorkerMachine {
        var config = PSConfig()
        config.servers = 1
        config.maxMessageBytes = limit
        var w = WorkerMachine(config: config, incarnation: 1)
        _ = w.start(now: 0)
        let book = OutboundMessage(
            MessageHeader(kind: .addressBook, sender: .scheduler, seq: 1),
            .addressBook(id: NodeID(.worker, 0), servers: ["memory://s0"], workers: 1))
        deliver(book, from: .link(0)) { w.onMessage($0, now: 0) }
        return w
    }

    private static func deliver(_ m: OutboundMessage, from peer: Peer, _ to: (InboundEnvelope) -> [NodeDirective]) {
        let frames = m.frames().map { f in f.withUnsafeBytes { Array($0) } }
        if case .success(let e) = InboundEnvelope.open(InboundMessage(from: peer, frames: frames), maxMessageBytes: 1 << 30) {
            _ = to(e)
        }
    }
}

#if FUZZING
    /// libFuzzer's entry for each input.
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
        FuzzNodes.feed(UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size))
        return 0
    }

    /// libFuzzer's driver (`int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*cb)(const uint8_t *, size_t))`),
    /// called from this program's own `main`: SwiftPM names an executable's entry point itself, so
    /// libFuzzer's `main` cannot be the program's.
    @_silgen_name("LLVMFuzzerRunDriver")
    func runFuzzerDriver(
        _ argc: UnsafeMutablePointer<CInt>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
    ) -> CInt
#endif

@main
struct FuzzMain {
    static func main() throws {
        #if FUZZING
            var argc = CommandLine.argc
            var argv = CommandLine.unsafeArgv
            exit(runFuzzerDriver(&argc, &argv, fuzzOneInput))
        #else
            let dir = CommandLine.arguments.dropFirst().first ?? "Tests/Fuzz/corpus"
            try FuzzSeeds.write(to: dir)
            // The seeds go through the same path the fuzzer drives, so this run checks them too.
            for seed in FuzzSeeds.all() { seed.withUnsafeBytes { FuzzNodes.feed($0) } }
            print("wrote \(FuzzSeeds.all().count) seeds to \(dir) (build with Launch/fuzz to fuzz)")
        #endif
    }
}
