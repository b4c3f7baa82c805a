/// Constants of the checkpoint format (see `Docs/Reliability.md`).
package enum CheckpointFormat {
    /// The format version this build writes and reads; a checkpoint of another is refused.
    /// (2: table specs carry their non-finite policy.)
    package static let version: UInt32 = 2
    /// First bytes of every binary checkpoint file ("HSCK" read little-endian).
    package static let magic: UInt32 = 0x4B43_5348
    /// File kinds.
    package static let serverShard: UInt8 = 1
    package static let workerState: UInt8 = 2
    /// The manifest's name inside a checkpoint directory.
    package static let manifestName = "manifest.json"
}
