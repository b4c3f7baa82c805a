/// What one training step moves and computes, for a `CostModel` to price: the prediction that
/// `bench hybrid` and `bench scaling` put beside each measured step.
package struct StepLoad: Sendable {
    /// One pull request per PS-routed table before the step: its rows and bytes.
    package var pulls: [(keys: Double, bytes: Double)] = []
    /// Bytes of rows read before the step from tables held locally (routed to the ring): one pass.
    package var localReads = 0.0
    /// Bytes of each tensor all-reduced in the step (dense tensors and densified tables on the ring).
    package var ringTensors: [Int] = []
    /// Bytes of the parameters this worker updates itself (the same tensors): each is read and written
    /// about `CostModel.localPasses` times a step.
    package var localBytes = 0
    /// The step's push: every PS-routed row and dense tensor in one request.
    package var push: (keys: Double, bytes: Double) = (0, 0)
    /// PS-routed dense tensors read back after the step, in one request.
    package var refresh: (keys: Double, bytes: Double) = (0, 0)

    package init() {}
}

/// A step's predicted seconds by part.
package struct StepSeconds: Sendable, Equatable {
    package var pulls, ring, local, push, refresh: Double
    /// `GradientSync.step`'s share: everything after the pulls.
    package var step: Double { ring + local + push + refresh }
    package var total: Double { pulls + step }
}

extension CostModel {
    /// Memory passes over a locally updated parameter a step: the finite check, the average and the
    /// optimizer for a dense tensor; zeroing, the average and the scan for touched rows for a table.
    package static let localPasses = 3.0

    /// The all-reduces a step's ring tensors make: those of `inPlaceBytes` or more alone, the rest
    /// fused into one bucket (`DenseSyncConfig.fusionInPlaceBytes`).
    package static func ringMessages(_ tensors: [Int], inPlaceBytes: Int = 64 << 10) -> [Int] {
        let fused = tensors.filter { $0 < inPlaceBytes }.reduce(0, +)
        return tensors.filter { $0 >= inPlaceBytes } + (fused > 0 ? [fused] : [])
    }

    /// Predicted seconds of a step's parts: the pulls before it, and within `GradientSync.step` the
    /// ring, the local updates, the push and the read-back of PS-routed dense tensors, one after the
    /// other (on a machine whose cores are all busy, the push's overlap with the ring buys little).
    package func seconds(of load: StepLoad) -> StepSeconds {
        StepSeconds(
            pulls: load.pulls.reduce(0) { $0 + request(pullCost, $1) } + localPass * load.localReads,
            ring: Self.ringMessages(load.ringTensors).reduce(0) { $0 + ringSeconds($1) },
            local: Self.localPasses * localPass * Double(load.localBytes),
            push: request(pushCost, load.push), refresh: request(pullCost, load.refresh))
    }

    /// A PS request's seconds: the calibrated cost, else one latency and the busiest link's bytes.
    private func request(_ cost: RequestCost?, _ r: (keys: Double, bytes: Double)) -> Double {
        guard r.keys > 0 else { return 0 }
        if let cost { return cost.seconds(keys: r.keys, bytes: r.bytes) }
        return alpha + r.bytes * Swift.max(1, Double(workers) / Double(servers)) * beta
    }
}
