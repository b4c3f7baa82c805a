import HybridSyncCore

extension PSConfig {
    /// Reads the `HYBRIDSYNC_*` variables over `base` (the defaults unless given); throws
    /// `invalidArgument` naming a bad one.
    public static func fromEnvironment(_ env: [String: String], base: PSConfig = PSConfig()) throws -> PSConfig {
        var c = base
        func int(_ k: String) throws -> Int? {
            guard let v = env[k] else { return nil }
            guard let i = Int(v) else { throw HybridSyncError.invalidArgument(.range, "\(k)=\(v) is not an integer") }
            return i
        }
        func double(_ k: String) throws -> Double? {
            guard let v = env[k] else { return nil }
            guard let d = Double(v), d > 0 else { throw HybridSyncError.invalidArgument(.range, "\(k)=\(v) is not a positive number") }
            return d
        }
        if let s = env["HYBRIDSYNC_SCHEDULER"] {
            let parts = s.split(separator: ":")
            guard parts.count == 2, let port = Int(parts[1]), (1...65535).contains(port) else {
                throw HybridSyncError.invalidArgument(.configuration, "HYBRIDSYNC_SCHEDULER=\(s) is not host:port")
            }
            c.schedulerHost = String(parts[0])
            c.schedulerPort = port
        }
        if let v = try int("HYBRIDSYNC_NUM_SERVERS") { c.servers = v }
        if let v = try int("HYBRIDSYNC_NUM_WORKERS") { c.workers = v }
        if let v = try int("HYBRIDSYNC_INDEX") { c.preferredIndex = v }
        if let v = try int("HYBRIDSYNC_MAX_MESSAGE_BYTES") { c.maxMessageBytes = v }
        if let v = env["HYBRIDSYNC_BIND"] { c.bindHost = v }
        if let v = env["HYBRIDSYNC_TRANSPORT"] {
            guard v == "tcp" || v == "ipc" else { throw HybridSyncError.invalidArgument(.configuration, "HYBRIDSYNC_TRANSPORT=\(v) is not tcp or ipc") }
            c.sameHostIPC = v == "ipc"
        }
        if let v = try double("HYBRIDSYNC_HEARTBEAT_TIMEOUT") { c.heartbeatTimeout = v; c.heartbeatInterval = min(c.heartbeatInterval, v / 4) }
        if let v = try double("HYBRIDSYNC_REQUEST_TIMEOUT") { c.requestTimeout = v }
        if let v = try double("HYBRIDSYNC_RESEND_AFTER") { c.resendAfter = v }
        if let v = try int("HYBRIDSYNC_MAX_ATTEMPTS") { c.maxAttempts = v }
        if let v = try int("HYBRIDSYNC_REPLICATION") { c.replication = v }
        if let v = try int("HYBRIDSYNC_MAX_ROWS") { c.limits.maxRows = v }
        if let v = try int("HYBRIDSYNC_MAX_BYTES") { c.limits.maxBytes = v }
        if let v = try int("HYBRIDSYNC_MAX_TABLES") { c.limits.maxTables = v }
        if let v = try int("HYBRIDSYNC_MAX_KEYS") { c.limits.maxKeysPerRequest = v }
        if let v = try int("HYBRIDSYNC_MAX_CLOCK_LEAD") { c.limits.maxClockLead = v }
        if let dir = env["HYBRIDSYNC_KEYS"] {
            guard let member = env["HYBRIDSYNC_MEMBER"] else {
                throw HybridSyncError.invalidArgument(
                    .configuration, "HYBRIDSYNC_KEYS=\(dir) needs HYBRIDSYNC_MEMBER (scheduler, server-N or worker-N): which key is this node's")
            }
            c.curve = try KeyDirectory.load(dir, member: member)
            // The key decides the node: its index is the member's unless HYBRIDSYNC_INDEX says otherwise.
            if c.preferredIndex < 0, let node = Membership.nodes(of: member).first, node.role != .scheduler { c.preferredIndex = node.index }
        }
        try c.validate()
        return c
    }
}
