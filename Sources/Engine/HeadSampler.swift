import CaptureModel
import HTTP1

/// Which healthy response heads are copied to be compared with failing ones: the first healthy
/// response of each capture-second for each upstream and request (method and target), and for
/// each upstream, with at most `keysTracked` requests and `serversTracked` upstreams followed.
/// Every other healthy response costs a look-up and no copy.
///
/// The rule depends on the responses alone, not on which flow table saw them: `--threads`
/// shards each offer their own firsts, among which are the firsts one table would have offered,
/// and `HeadStore` keeps the first it is given in each second, as one table would.
struct HeadSampler {
    /// A request to one upstream: its method and its target's path (the query string aside:
    /// it often carries an id of its own), the path hashed in place rather than copied.
    struct Key: Hashable {
        var server: Endpoint
        var method: String
        var path: Int

        init(server: Endpoint, method: String, target: String) {
            self.server = server
            self.method = method
            var hasher = Hasher()
            var target = target
            // The path's bytes in one call: a byte at a time cost a hashing round each.
            target.withUTF8 { utf8 in
                let end = utf8.firstIndex(of: UInt8(ascii: "?")) ?? utf8.count
                hasher.combine(bytes: UnsafeRawBufferPointer(start: utf8.baseAddress, count: end))
            }
            self.path = hasher.finalize()
        }
    }

    /// Requests followed at most (then only upstreams are).
    static let keysTracked = 1024
    /// Upstreams followed at most.
    static let serversTracked = 256

    /// The last capture-second a head was offered for, per request and per upstream.
    private var byKey: [Key: Int64] = [:]
    private var byServer: [Endpoint: Int64] = [:]

    /// The second a response's first byte belongs to.
    static func second(_ time: Timestamp) -> Int64 {
        time.nanoseconds >= 0 ? time.nanoseconds / 1_000_000_000 : (time.nanoseconds + 1) / 1_000_000_000 - 1
    }

    /// Whether a healthy head is to be copied: the first in its second for its request or for
    /// its upstream. Asked with the transaction's parts (its upstream, its request's method and
    /// target, when the response's first byte came): a whole transaction lent here was copied.
    mutating func wants(server: Endpoint, method: String, target: String, answeredAt time: Timestamp) -> Bool {
        let second = Self.second(time)
        let key = Key(server: server, method: method, target: target)
        let forKey = Self.first(in: second, &self.byKey, key, limit: Self.keysTracked)
        let forServer = Self.first(in: second, &self.byServer, server, limit: Self.serversTracked)
        return forKey || forServer
    }

    /// Marks `second` as offered for `key`; true when nothing was offered for it in that second
    /// or a later one.
    static func first<K: Hashable>(in second: Int64, _ table: inout [K: Int64], _ key: K, limit: Int) -> Bool {
        // One hash of the key: found, its second is read and written where it is.
        if let index = table.index(forKey: key) {
            guard table.values[index] < second else { return false }
            table.values[index] = second
            return true
        }
        guard table.count < limit else { return false }
        table[key] = second
        return true
    }
}
