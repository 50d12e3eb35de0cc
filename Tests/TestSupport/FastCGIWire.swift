/// FastCGI 1.0 records as a gateway and an application write them, for tests.
public enum FastCGIWire {
    /// One record: version (1 unless given), type, request id, content, padding.
    public static func record(_ type: UInt8, id: UInt16 = 1, _ content: [UInt8] = [], padding: Int = 0, version: UInt8 = 1) -> [UInt8] {
        [version, type, UInt8(id >> 8), UInt8(id & 0xff), UInt8(content.count >> 8), UInt8(content.count & 0xff), UInt8(padding), 0]
            + content + [UInt8](repeating: 0, count: padding)
    }

    /// FCGI_BEGIN_REQUEST, role FCGI_RESPONDER, `keepConnection` as nginx's fastcgi_keep_conn sets it.
    public static func begin(id: UInt16 = 1, keepConnection: Bool = false) -> [UInt8] {
        self.record(1, id: id, [0, 1, keepConnection ? 1 : 0, 0, 0, 0, 0, 0])
    }

    /// FCGI_PARAMS with `pairs`, then the empty FCGI_PARAMS that ends them, then an empty FCGI_STDIN.
    public static func params(_ pairs: [(String, String)], id: UInt16 = 1) -> [UInt8] {
        var content: [UInt8] = []
        func length(_ count: Int) -> [UInt8] {
            count < 128 ? [UInt8(count)] : [UInt8(0x80 | (count >> 24)), UInt8((count >> 16) & 0xff), UInt8((count >> 8) & 0xff), UInt8(count & 0xff)]
        }
        for (name, value) in pairs {
            content += length(name.utf8.count) + length(value.utf8.count) + Array(name.utf8) + Array(value.utf8)
        }
        return self.record(4, id: id, content, padding: (8 - content.count % 8) % 8) + self.record(4, id: id) + self.record(5, id: id)
    }

    /// A whole request: BEGIN_REQUEST, the parameters of `method` `uri` on `host`, the end of stdin.
    public static func request(_ method: String = "GET", _ uri: String = "/index.php", host: String = "shop.example", id: UInt16 = 1,
                               keepConnection: Bool = false, extra: [(String, String)] = []) -> [UInt8] {
        self.begin(id: id, keepConnection: keepConnection) + self.params(
            [("SCRIPT_FILENAME", "/var/www/html" + uri), ("REQUEST_METHOD", method), ("REQUEST_URI", uri), ("HTTP_HOST", host)] + extra,
            id: id)
    }

    /// FCGI_STDOUT with `text`.
    public static func stdout(_ text: String, id: UInt16 = 1, padding: Int = 0) -> [UInt8] {
        self.record(6, id: id, Array(text.utf8), padding: padding)
    }

    /// FCGI_STDERR with `text`.
    public static func stderr(_ text: String, id: UInt16 = 1) -> [UInt8] {
        self.record(7, id: id, Array(text.utf8))
    }

    /// The empty FCGI_STDOUT that ends the stream, then FCGI_END_REQUEST.
    public static func end(id: UInt16 = 1, appStatus: UInt32 = 0, protocolStatus: UInt8 = 0, closeStdout: Bool = true) -> [UInt8] {
        (closeStdout ? self.record(6, id: id) : [])
            + self.record(3, id: id, [UInt8(appStatus >> 24), UInt8((appStatus >> 16) & 0xff), UInt8((appStatus >> 8) & 0xff), UInt8(appStatus & 0xff), protocolStatus, 0, 0, 0])
    }
}
