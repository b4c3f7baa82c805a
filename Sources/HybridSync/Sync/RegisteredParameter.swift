import HybridSyncCollectives
import HybridSyncCore

/// A dense parameter registered with `GradientSync`: the caller's tensor, its optimizer and state, its
/// route, and what the step holds of it.
final class DenseParameter {
    let tensor: Tensor
    let kernel: OptimizerKernel
    /// The optimizer's state, `kernel.stateSlots` slots of `tensor.count` floats.
    var state: [Float]
    var route: Route = .ring
    /// On the servers (route `.ps`): the broadcast starting value; the parameter is this plus the
    /// servers' copy, which starts at zero and receives the updates.
    var serverOffset: [Float]?
    /// The gradient `ready` got this step, if any.
    var readied: Tensor?

    var name: String { tensor.name }

    init(_ tensor: Tensor, optimizer: OptimizerSpec) {
        self.tensor = tensor
        kernel = OptimizerKernel(spec: optimizer)
        state = []
        state.reserveCapacity(kernel.stateSlots * tensor.count)
        for j in 0..<kernel.stateSlots { state += repeatElement(kernel.initialState(j), count: tensor.count) }
    }

    /// Applies the averaged gradient `g` in place with the optimizer, as of step `step` (1-based).
    func apply(_ g: Tensor, step: Int) {
        let count = tensor.count
        state.withUnsafeMutableBufferPointer { st in
            tensor.rawPointer.withMemoryRebound(to: Float.self, capacity: count) { w in
                g.rawPointer.withMemoryRebound(to: Float.self, capacity: g.count) { gp in
                    kernel.apply(w, gp, count, state: st.baseAddress ?? w, step: step)
                }
            }
        }
    }
}

/// An embedding table registered with `GradientSync`: its spec and size, its route, its local copy
/// when on the ring, and the rows touched (for the planner's observed density).
final class TableParameter {
    let spec: TableSpec
    let rows: Int
    var route: Route = .ps
    /// The full copy on every worker, when the table is on the ring.
    var local: LocalTable?
    /// Rows touched in the current step, and summed over the completed steps.
    var touchedThisStep: Set<UInt64> = []
    var touchedRows = 0

    var name: String { spec.name }

    init(_ spec: TableSpec, rows: Int) {
        self.spec = spec
        self.rows = rows
    }

    /// The observed density so far: rows touched per step over the table's rows.
    func density(steps: Int) -> Double { Double(touchedRows) / Double(max(1, steps)) / Double(max(1, rows)) }
}
