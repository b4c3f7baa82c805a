import CHybridSync

@_cdecl("hs_last_status")
public func hsLastStatus() -> hs_status { LastError.current.status }

@_cdecl("hs_last_code")
public func hsLastCode() -> Int32 { LastError.current.code }

@_cdecl("hs_last_message")
public func hsLastMessage() -> UnsafePointer<CChar> { UnsafePointer(LastError.current.message) }

@_cdecl("hs_last_subject")
public func hsLastSubject() -> UnsafePointer<CChar> { UnsafePointer(LastError.current.subject) }

@_cdecl("hs_abi_version")
public func hsABIVersion() -> Int32 { Int32(HS_ABI_VERSION) }

@_cdecl("hs_status_name")
public func hsStatusName(_ status: Int32) -> UnsafePointer<CChar> {
    let names: [StaticString] = [
        "HS_OK", "HS_INVALID_ARGUMENT", "HS_SHAPE_MISMATCH", "HS_UNKNOWN_TABLE", "HS_MISMATCH", "HS_STALLED", "HS_TIMEOUT", "HS_PEER_DIED",
        "HS_DATA_LOST", "HS_UNUSABLE", "HS_TRANSPORT", "HS_MALFORMED_MESSAGE", "HS_OVERSIZE_MESSAGE", "HS_FORGED_SENDER", "HS_REMOTE",
        "HS_CHECKPOINT", "HS_INTERNAL",
    ]
    let name: StaticString = names.indices.contains(Int(status)) ? names[Int(status)] : "HS_UNKNOWN_STATUS"
    return UnsafeRawPointer(name.utf8Start).assumingMemoryBound(to: CChar.self)
}
