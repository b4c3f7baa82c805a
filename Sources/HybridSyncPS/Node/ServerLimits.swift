import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// What one server takes before it refuses, so no request can make it allocate without bound: a
/// request that would pass a limit gets a clear error and changes nothing.
///
/// From the environment: `HYBRIDSYNC_MAX_ROWS`, `HYBRIDSYNC_MAX_BYTES`, `HYBRIDSYNC_MAX_TABLES`,
/// `HYBRIDSYNC_MAX_KEYS`, `HYBRIDSYNC_MAX_CLOCK_LEAD`.
package struct ServerLimits: Sendable, Equatable {
    /// Rows (row pieces) one server stores, over all tables. Default 2^30.
    package var maxRows = 1 << 30
    /// Bytes of rows one server stores (values, optimizer state, update counts and index), over all
    /// tables. Default: three quarters of this machine's memory. (Arenas grow by doubling, so the
    /// memory held may briefly reach twice the rows' bytes of the table that is growing.)
    package var maxBytes = Int(ProcessInfo.processInfo.physicalMemory / 4 * 3)
    /// Tables declared on one server. Default 1024.
    package var maxTables = 1024
    /// Keys in one request, over all its sections. Default 2^24.
    package var maxKeysPerRequest = 1 << 24
    /// How many steps ahead of the slowest worker a push to a BSP table may be stamped (such pushes
    /// are held until every worker gets there). Default 1024.
    package var maxClockLead = 1024

    package init() {}
}
