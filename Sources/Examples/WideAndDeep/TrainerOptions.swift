import HybridSync

/// What a `WideAndDeepTrainer` trains, on what data, and how it synchronises.
public struct TrainerOptions: Sendable {
    /// Passes over the training set.
    public var epochs = 8
    /// Images per worker per step.
    public var batch = 32
    /// Hidden units of the MLP.
    public var hidden = 128
    /// Rows of the wide table (a power of two).
    public var wideRows = 1 << 20
    /// Use only this many training images (0: all).
    public var trainLimit = 0
    /// Use only this many test images (0: all).
    public var testLimit = 0
    /// The Fashion-MNIST directory.
    public var data = FashionMNIST.defaultDirectory
    /// Which path each parameter takes (`.hybrid`: the planner decides).
    public var strategy: Strategy = .hybrid
    /// Probe both paths at start-up for the planner's cost model.
    public var calibrate = true
    /// Consistency of the wide table on the parameter servers.
    public var consistency: Consistency = .bsp
    /// How the wide table's rows travel (the servers keep float32).
    public var rowEncoding: RowEncoding = .float32
    /// Push the wide table's gradient before the MLP's backward pass and start the output layer's
    /// bucket before the first layer's gradients are computed.
    public var overlap = true
    /// Write checkpoints here (also one when training ends).
    public var checkpointDirectory: String?
    /// A checkpoint every this many steps (0: only at the end).
    public var checkpointEvery = 0
    /// Also a checkpoint once this many seconds have passed on worker 0 since the last one (0: off);
    /// looked at every 20 steps, where the workers meet to average the loss.
    public var checkpointEverySeconds = 0.0
    /// Continue from the newest complete checkpoint in `checkpointDirectory`.
    public var resume = false
    /// `false` runs the same arithmetic on rows of zeros with nothing pulled or synchronised: the step
    /// time without synchronisation, to measure its share.
    public var synchronise = true

    /// The defaults: 8 epochs of batch 32, 128 hidden units, a 2^20-row BSP wide table, overlap on.
    public init() {}
}

/// What the trainer reports after each step.
public struct StepReport: Sendable {
    /// Steps done so far (over the whole run, resumed ones included).
    public let step: Int
    /// The run's last step.
    public let totalSteps: Int
    /// The epoch this step belongs to (from 0).
    public let epoch: Int
    /// Whether this step overlapped synchronisation with backward.
    public let overlapped: Bool
    /// The step's wall time on this worker.
    public let seconds: Double
    /// Every 20 steps (and at the last): the mean loss of the last steps over every worker.
    public let loss: Double?
    /// Whether a checkpoint of this step was taken (every `checkpointEvery` steps); it is written in
    /// the background and complete by the next one.
    public let checkpointed: Bool
    /// A background checkpoint that failed, found at this step: training goes on and the previous
    /// complete checkpoint stays.
    public let checkpointFailure: String?
}

/// A finished run.
public struct TrainingResult: Sendable {
    /// The mean loss over the workers, every 20 steps.
    public let losses: [Double]
    /// The step the run started from (0, or the resumed checkpoint's).
    public let firstStep: Int
    /// The step the run ended at.
    public let lastStep: Int
    /// Wall time of the training loop.
    public let seconds: Double
}
