"""HybridSync's errors as Python exceptions: one base class and a subclass per kind (the C ABI's
statuses, which are HybridSyncError's families). Each carries the library's message, the family's
code (a name such as "shape" or "non_finite", or None) and the tensor, table, peer or file it names."""

ARGUMENT_CODES = {1: "shape", 2: "dtype", 3: "name", 4: "range", 5: "non_finite", 6: "order", 7: "limit", 8: "configuration",
                  9: "membership", 10: "unsupported", 11: "io", 12: "handle"}
MESSAGE_CODES = {1: "format", 2: "kind", 3: "field", 4: "frames", 5: "length", 6: "channel"}
CHECKPOINT_CODES = {1: "io", 2: "damaged", 3: "format", 4: "missing", 5: "incompatible"}


class HybridSyncError(Exception):
    """Every error of the library. `status` is the C status's name, `code` the family's code name (or
    None), `subject` what the error names ("" if nothing), `message` the library's text."""

    status = "HS_INTERNAL"
    codes = {}

    def __init__(self, message, code=None, subject=""):
        super().__init__(message)
        self.message = message
        self.code = code
        self.subject = subject


class InvalidArgument(HybridSyncError, ValueError):
    """A bad argument (code says which kind: shape, dtype, name, non_finite, order, ...). Nothing was
    applied; the job goes on."""
    status, codes = "HS_INVALID_ARGUMENT", ARGUMENT_CODES


class ShapeMismatch(HybridSyncError, ValueError):
    """An array of the wrong length or element type. Nothing was applied; the job goes on."""
    status = "HS_SHAPE_MISMATCH"


class UnknownTable(HybridSyncError, LookupError):
    """A table that was never declared or registered (subject names it). The job goes on."""
    status = "HS_UNKNOWN_TABLE"


class Mismatch(HybridSyncError):
    """Workers disagree on a collective (subject names the tensor). The job has failed."""
    status = "HS_MISMATCH"


class Stalled(HybridSyncError):
    """A collective waited past its stall limit for workers that never joined. The job has failed."""
    status = "HS_STALLED"


class Timeout(HybridSyncError, TimeoutError):
    """A wait passed its deadline (subject: whom it waited for). The job has failed."""
    status = "HS_TIMEOUT"


class PeerDied(HybridSyncError):
    """A process of the job died (subject names it). The job has failed."""
    status = "HS_PEER_DIED"


class DataLost(HybridSyncError):
    """Every copy of a shard is gone (subject: the shards); resume from a checkpoint."""
    status = "HS_DATA_LOST"


class Unusable(HybridSyncError):
    """The job failed earlier; the message names that failure."""
    status = "HS_UNUSABLE"


class TransportError(HybridSyncError):
    """MPI or ZeroMQ failed (subject: which)."""
    status = "HS_TRANSPORT"


class MalformedMessage(HybridSyncError):
    """A message that does not decode."""
    status, codes = "HS_MALFORMED_MESSAGE", MESSAGE_CODES


class OversizeMessage(HybridSyncError):
    """A message past the size limit."""
    status = "HS_OVERSIZE_MESSAGE"


class ForgedSender(HybridSyncError):
    """A message whose sender is not who its key says."""
    status = "HS_FORGED_SENDER"


class RemoteError(HybridSyncError):
    """A peer refused the request (subject: the peer)."""
    status = "HS_REMOTE"


class CheckpointError(HybridSyncError, OSError):
    """A checkpoint could not be written or read (code: io, damaged, format, missing, incompatible)."""
    status, codes = "HS_CHECKPOINT", CHECKPOINT_CODES


BY_STATUS = {1: InvalidArgument, 2: ShapeMismatch, 3: UnknownTable, 4: Mismatch, 5: Stalled, 6: Timeout, 7: PeerDied, 8: DataLost,
             9: Unusable, 10: TransportError, 11: MalformedMessage, 12: OversizeMessage, 13: ForgedSender, 14: RemoteError,
             15: CheckpointError}


def raise_last(lib):
    """Raises the calling thread's last error of the library."""
    status = lib.hs_last_status()
    cls = BY_STATUS.get(status, HybridSyncError)
    code = lib.hs_last_code()
    raise cls(lib.hs_last_message().decode(), cls.codes.get(code, code or None), lib.hs_last_subject().decode())
