extension HybridSyncError {
    /// What was wrong with a refused argument (`invalidArgument`). The raw values are stable (the wire
    /// carries them); an error's text shows the case's name.
    public enum ArgumentCode: UInt8, Sendable, CaseIterable {
        /// Lengths, counts or dimensions that do not fit together (values for keys, an empty shape).
        case shape = 1
        /// An element type that this call does not take.
        case dtype = 2
        /// An unknown, missing, duplicate or ill-formed name (tensor, parameter, table).
        case name = 3
        /// A number outside its allowed range (a key, a rank, a clock, an optimizer setting).
        case range = 4
        /// NaN or an infinity in a gradient; nothing of the step or push was applied.
        case nonFinite = 5
        /// A call made in the wrong order or state (`ready` before `planOverlap`, a push while a
        /// checkpoint is written).
        case order = 6
        /// A configured limit would be passed (a server's row, byte, key or table limit; 2 GiB
        /// messages).
        case limit = 7
        /// The job's configuration: layout, environment variables, options, keys, specs.
        case configuration = 8
        /// A node that is not, or not yet, a member of the job (or of a shard's chain) sent or was
        /// asked for.
        case membership = 9
        /// A combination this build does not support.
        case unsupported = 10
        /// A file other than a checkpoint could not be read or written.
        case io = 11
    }

    /// Which part of a refused message was wrong (`malformedMessage`). Stable raw values.
    public enum MessageCode: UInt8, Sendable, CaseIterable {
        /// Not this format: bad magic or an unsupported version.
        case format = 1
        /// An unknown message kind, or one the receiver does not take, or a body of the wrong kind.
        case kind = 2
        /// A field holds a value outside its range (an unknown code, a count too large, a bad id).
        case field = 3
        /// The frame count or a frame's size disagrees with the header.
        case frames = 4
        /// Too few bytes for its fields, bytes left over, or a string too long.
        case length = 5
        /// A secure link's frame that does not verify: a handshake from a non-member or with the wrong
        /// key, or a sealed message replayed, reordered, altered or on no session.
        case channel = 6
    }

    /// Why a checkpoint could not be written or used (`checkpoint`). Stable raw values.
    public enum CheckpointCode: UInt8, Sendable, CaseIterable {
        /// The file system refused: create, write, fsync, rename or read failed.
        case io = 1
        /// A file's bytes are wrong: its checksum, its length or a field.
        case damaged = 2
        /// Not a HybridSync checkpoint, or of a format version this build does not read.
        case format = 3
        /// No complete checkpoint where one was asked for (no manifest).
        case missing = 4
        /// A sound checkpoint that does not fit this job (another worker count, table size or state).
        case incompatible = 5
    }
}
