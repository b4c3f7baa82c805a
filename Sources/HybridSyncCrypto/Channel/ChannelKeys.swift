import HybridSyncCore

/// What a node needs to open and accept secure links: its own static key, the job's listening key
/// (every scheduler and server of a job serves with the same pair; connecting nodes pin its public
/// key) and the job's members (static public key -> the member identity messages are bound to).
package struct ChannelKeys: Sendable {
    /// This node's static key, with which it opens links.
    package let own: X25519Key
    /// The job's listening key; its secret is present wherever the node listens.
    package let listening: X25519Key
    /// Static public key -> member identity, for every member of the job.
    package let members: [[UInt8]: String]

    package init(own: X25519Key, listening: X25519Key, members: [[UInt8]: String]) {
        self.own = own
        self.listening = listening
        self.members = members
    }
}
