import CaptureModel
import HTTP1

/// FCGI_PARAMS, the CGI environment the gateway sends (FastCGI 1.0 §3.4, §5.2; RFC 3875 §4.1):
/// name-value pairs, each length one byte below 128 or four bytes with the high bit set.
enum Params {
    /// At most this many bytes of a value are kept: enough to match a request on both hops.
    static let maximumValueBytes = 256

    /// The request the parameters describe, the FCGI_BEGIN_REQUEST at `begin`: REQUEST_METHOD,
    /// REQUEST_URI (or SCRIPT_NAME with QUERY_STRING), HTTP_HOST, HTTP_X_REQUEST_ID,
    /// HTTP_X_CORRELATION_ID and the trace-id of HTTP_TRACEPARENT. What is missing shows as `-`.
    static func request(_ bytes: [UInt8], begin: StreamMark) -> RequestInfo {
        var method: String?
        var uri: String?
        var script: String?
        var query: String?
        var host: String?
        var requestID: String?
        var correlationID: String?
        var traceID: String?
        self.forEach(bytes) { name, value in
            func text() -> String { String(decoding: bytes[value.lowerBound..<min(value.upperBound, value.lowerBound + self.maximumValueBytes)], as: UTF8.self) }
            switch String(decoding: bytes[name], as: UTF8.self) {
            case "REQUEST_METHOD": method = text()
            case "REQUEST_URI": uri = text()
            case "SCRIPT_NAME": script = text()
            case "QUERY_STRING": query = text()
            case "HTTP_HOST": host = text()
            case "HTTP_X_REQUEST_ID": requestID = text()
            case "HTTP_X_CORRELATION_ID": correlationID = text()
            case "HTTP_TRACEPARENT": traceID = self.traceID(text())
            default: break
            }
        }
        let target = uri ?? script.map { $0 + (query.map { $0.isEmpty ? "" : "?" + $0 } ?? "") } ?? "-"
        return RequestInfo(
            method: method ?? "-", target: target, host: host, requestID: requestID, correlationID: correlationID, traceID: traceID,
            offset: begin.offset, frame: begin.frame, time: begin.time, upgrade: false)
    }

    /// Calls `body` with the name and value ranges of each complete pair in `bytes`.
    static func forEach(_ bytes: [UInt8], _ body: (Range<Int>, Range<Int>) -> Void) {
        var index = 0
        func length() -> Int? {
            guard index < bytes.count else { return nil }
            if bytes[index] < 0x80 {
                index += 1
                return Int(bytes[index - 1])
            }
            guard index + 4 <= bytes.count else { return nil }
            let value = Int(bytes[index] & 0x7f) << 24 | Int(bytes[index + 1]) << 16 | Int(bytes[index + 2]) << 8 | Int(bytes[index + 3])
            index += 4
            return value
        }
        while index < bytes.count {
            guard let nameLength = length(), let valueLength = length(),
                  nameLength <= bytes.count - index, valueLength <= bytes.count - index - nameLength
            else { return }
            let name = index..<(index + nameLength)
            let value = name.upperBound..<(name.upperBound + valueLength)
            body(name, value)
            index = value.upperBound
        }
    }

    /// The trace-id of a W3C `traceparent` value (§3.2), `nil` unless it has that shape.
    static func traceID(_ value: String) -> String? {
        let parts = value.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 4, parts[1].count == 32,
              parts[1].allSatisfy({ ("0"..."9").contains($0) || ("a"..."f").contains($0) }), parts[1].contains(where: { $0 != "0" })
        else { return nil }
        return String(parts[1])
    }
}
