/// Whether sequence number `a` comes before `b`, modulo 2^32 (RFC 9293 §3.4, Wireshark's `LT_SEQ`).
@inlinable
public func sequencePrecedes(_ a: UInt32, _ b: UInt32) -> Bool {
    Int32(bitPattern: a &- b) < 0
}

/// The signed distance from `b` to `a` in sequence space, valid while they are within 2^31.
@inlinable
public func sequenceDistance(from b: UInt32, to a: UInt32) -> Int64 {
    Int64(Int32(bitPattern: a &- b))
}
