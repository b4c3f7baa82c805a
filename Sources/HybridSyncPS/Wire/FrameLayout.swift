/// Where a message's parts sit among its frames: the header (frame 0), the meta frame (1), then per
/// section a keys frame and a values frame. Only the codec knows these numbers; everything else asks
/// for a section's keys or values.
package enum FrameLayout {
    /// The index of the header frame.
    package static let header = 0
    /// The index of the meta frame (the body of a message without sections).
    package static let meta = 1
    /// Frames of a message with `sections` sections.
    package static func frameCount(sections: Int) -> Int { 2 + 2 * sections }
    /// The index of section `section`'s keys frame.
    package static func keys(_ section: Int) -> Int { 2 + 2 * section }
    /// The index of section `section`'s values frame.
    package static func values(_ section: Int) -> Int { 3 + 2 * section }
}

extension Array {
    /// Section `section`'s keys frame of a message's frames.
    package subscript(keysOf section: Int) -> Element {
        get { self[FrameLayout.keys(section)] }
        set { self[FrameLayout.keys(section)] = newValue }
    }

    /// Section `section`'s values frame of a message's frames.
    package subscript(valuesOf section: Int) -> Element {
        get { self[FrameLayout.values(section)] }
        set { self[FrameLayout.values(section)] = newValue }
    }
}
