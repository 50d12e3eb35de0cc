/// The numbers RFC 9113 gives names to: frame types (§6), flags, settings (§6.5.2) and error
/// codes (§7), and the gRPC status codes (gRPC's `statuscodes.md`), spelled as reports print them.
public enum HTTP2Wire {
    /// RFC 9113 §4.1: every frame starts with a 9-byte header.
    static let frameHeaderLength = 9
    /// RFC 9113 §6.5.2: SETTINGS_MAX_FRAME_SIZE's initial value (and its smallest).
    static let defaultMaxFrameSize = 16_384
    /// RFC 9113 §6.9.2: the initial flow-control window of a connection and of a stream.
    static let defaultWindow: Int64 = 65_535
    /// RFC 7541 §4.2, RFC 9113 §6.5.2: SETTINGS_HEADER_TABLE_SIZE's initial value.
    static let defaultHeaderTableSize = 4096

    // Frame types (RFC 9113 §6).
    static let data: UInt8 = 0x0
    static let headers: UInt8 = 0x1
    static let priority: UInt8 = 0x2
    static let rstStream: UInt8 = 0x3
    static let settings: UInt8 = 0x4
    static let pushPromise: UInt8 = 0x5
    static let ping: UInt8 = 0x6
    static let goaway: UInt8 = 0x7
    static let windowUpdate: UInt8 = 0x8
    static let continuation: UInt8 = 0x9

    // Flags.
    static let endStream: UInt8 = 0x1
    static let ack: UInt8 = 0x1
    static let endHeaders: UInt8 = 0x4
    static let padded: UInt8 = 0x8
    static let priorityFlag: UInt8 = 0x20

    // Settings identifiers (RFC 9113 §6.5.2).
    static let settingsHeaderTableSize: UInt16 = 0x1
    static let settingsEnablePush: UInt16 = 0x2
    static let settingsInitialWindowSize: UInt16 = 0x4
    static let settingsMaxFrameSize: UInt16 = 0x5

    /// The frame type's name (`HEADERS`), or its number for an extension type.
    static func typeName(_ type: UInt8) -> String {
        switch type {
        case data: return "DATA"
        case headers: return "HEADERS"
        case priority: return "PRIORITY"
        case rstStream: return "RST_STREAM"
        case settings: return "SETTINGS"
        case pushPromise: return "PUSH_PROMISE"
        case ping: return "PING"
        case goaway: return "GOAWAY"
        case windowUpdate: return "WINDOW_UPDATE"
        case continuation: return "CONTINUATION"
        default: return "type \(type)"
        }
    }

    /// RFC 9113 §4.2, §6: how a control frame's length is wrong, as `PING length 7` (with `ACK`
    /// for a SETTINGS acknowledgement that carries a payload), or nil when it is right (or the
    /// type has no fixed size).
    static func sizeFault(type: UInt8, flags: UInt8, length: Int) -> String? {
        let wrong: Bool
        var ack = false
        switch type {
        case settings:
            ack = flags & HTTP2Wire.ack != 0
            wrong = ack ? length != 0 : length % 6 != 0  // §6.5
        case ping: wrong = length != 8  // §6.7
        case windowUpdate, rstStream: wrong = length != 4  // §6.9, §6.4
        case priority: wrong = length != 5  // §6.3
        case goaway: wrong = length < 8  // §6.8
        default: wrong = false
        }
        guard wrong else { return nil }
        return "\(typeName(type))\(ack ? " ACK" : "") length \(length)"
    }

    /// RFC 9113 §7: the error code's name (`REFUSED_STREAM`), or `0x..` for an unknown one.
    public static func errorName(_ code: UInt32) -> String {
        let names = [
            "NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT", "STREAM_CLOSED",
            "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM",
            "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED",
        ]
        return Int(code) < names.count ? names[Int(code)] : "0x" + String(code, radix: 16)
    }

    /// gRPC's status codes (grpc/doc/statuscodes.md), lowercase as `grpc.status.<name>` spells
    /// them; `nil` for OK (0) and for numbers gRPC does not define.
    static func grpcStatusName(_ code: Int) -> String? {
        let names = [
            "ok", "cancelled", "unknown", "invalid_argument", "deadline_exceeded", "not_found", "already_exists",
            "permission_denied", "resource_exhausted", "failed_precondition", "aborted", "out_of_range", "unimplemented",
            "internal", "unavailable", "data_loss", "unauthenticated",
        ]
        guard code > 0, code < names.count else { return nil }
        return names[code]
    }
}
