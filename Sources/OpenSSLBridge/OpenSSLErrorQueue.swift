import COpenSSL

/// OpenSSL's thread-local error queue, read into one line of text.
enum OpenSSLErrorQueue {
    /// Empties the queue and returns its entries joined with "; " (oldest first), or `nil` when
    /// it was empty. Every failing OpenSSL call is followed by a drain, so a stale entry never
    /// leaks into the next message on the same thread.
    static func drain() -> String? {
        var parts: [String] = []
        while true {
            var file: UnsafePointer<CChar>?
            var line: Int32 = 0
            var data: UnsafePointer<CChar>?
            var flags: Int32 = 0
            let code = ERR_get_error_all(&file, &line, nil, &data, &flags)
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            var text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            // The data string carries details such as "SSL alert number 40" or a file name.
            if flags & ERR_TXT_STRING != 0, let data, data.pointee != 0 {
                text += ":" + String(cString: data)
            }
            parts.append(text)
        }
        return parts.isEmpty ? nil : parts.joined(separator: "; ")
    }

    /// Empties the queue, dropping its entries.
    static func clear() {
        ERR_clear_error()
    }
}

/// A C string from a pointer OpenSSL owns, or `nil`.
@inline(__always)
func string(fromC pointer: UnsafePointer<CChar>?) -> String? {
    guard let pointer else { return nil }
    return String(cString: pointer)
}
