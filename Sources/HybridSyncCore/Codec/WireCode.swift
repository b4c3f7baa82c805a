/// A case-less enum's one-byte code in messages and checkpoints. The codes are the format's, not the
/// API's: they never change once released, and users never see them.
package protocol WireCode: CaseIterable {
    /// This case's code.
    var rawValue: UInt8 { get }
}

extension WireCode {
    /// The case whose code is `rawValue`, or nil for a code no case has.
    package init?(rawValue: UInt8) {
        guard let c = Self.allCases.first(where: { $0.rawValue == rawValue }) else { return nil }
        self = c
    }
}
