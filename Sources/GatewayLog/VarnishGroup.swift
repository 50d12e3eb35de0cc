import CaptureModel

/// One transaction of `varnishlog` output (`*   << Request  >> 2`, `**  << BeReq    >> 3`)
/// and its tag lines, read into one record: a client request (`ReqStart`, `ReqURL`,
/// `RespStatus`) or a backend fetch (`BackendOpen` names the connection's own ports).
struct VarnishGroup {
    let header: Substring
    let line: Int
    private(set) var lines: [Substring] = []
    private(set) var tags: [(tag: String, value: Substring)] = []

    init(header: Substring, line: Int) {
        self.header = header
        self.line = line
    }

    /// `*   << Request  >> 2`.
    static func isGroupStart(_ line: Substring) -> Bool {
        let body = line.drop { $0 == "*" }
        return body.count < line.count && body.drop { $0 == " " }.hasPrefix("<< ") && line.contains(">>")
    }

    /// Takes a tag line (`-   ReqURL   /x`, `--  BackendOpen ...`); `false` when it is not one.
    mutating func add(_ line: Substring) -> Bool {
        let body = line.drop { $0 == "-" }
        guard body.count < line.count, body.first == " " else { return false }
        let trimmed = body.drop { $0 == " " }
        let tag = trimmed.prefix { $0 != " " }
        guard !tag.isEmpty else { return false }
        let value = trimmed.dropFirst(tag.count).drop { $0 == " " }
        self.lines.append(line)
        self.tags.append((String(tag), value))
        return true
    }

    private func first(_ tag: String) -> Substring? {
        self.tags.first { $0.tag == tag }?.value
    }

    /// The group as a record; `nil` for one with no time.
    func record(file: String) -> GatewayLogRecord? {
        // `Timestamp  Start: 1796589116.935828 0.000000 0.000000`; the last Timestamp ends it.
        let stamps = self.tags.filter { $0.tag == "Timestamp" }.compactMap { tag -> Int64? in
            let words = tag.value.split(separator: " ")
            guard words.count >= 2, let seconds = Double(words[1]), seconds >= 0, seconds < Double(GatewayLogReader.latestSecond) else { return nil }
            return Int64((seconds * 1e6).rounded()) * 1000
        }
        guard let start = stamps.first else { return nil }
        let end = stamps.max() ?? start
        var text = String(self.header)
        for line in self.lines { text += "\n" + line }
        var record = GatewayLogRecord(
            file: file, line: self.line, kind: .varnishlog, time: Timestamp(nanoseconds: start), span: end - start + 1000, text: text)
        let kind = self.header.split(separator: " ").dropFirst(2).first.map(String.init) ?? ""
        record.fields.append(("group", kind))
        for (tag, value) in self.tags where tag != "Timestamp" && !tag.hasSuffix("Header") && !tag.hasPrefix("VCL_") {
            record.fields.append((tag, String(value)))
        }
        if let start = self.first("ReqStart") {
            let words = start.split(separator: " ")
            if words.count >= 2 {
                record.clientAddress = IPAddress(parsing: words[0])
                record.clientPort = UInt16(words[1])
            }
        }
        // `21 default 127.0.0.1 38090 127.0.0.1 38824 connect`: fd, backend, its address and
        // port, then Varnish's own.
        if let open = self.first("BackendOpen") {
            let words = open.split(separator: " ")
            if words.count >= 6, let address = IPAddress(parsing: words[2]), let port = UInt16(words[3]) {
                record.upstreams = [Endpoint(address: address, port: port)]
                record.gatewayPort = UInt16(words[5])
            }
        }
        record.method = (self.first("ReqMethod") ?? self.first("BereqMethod")).map(String.init)
        record.target = (self.first("ReqURL") ?? self.first("BereqURL")).map(String.init)
        if let status = self.first("RespStatus").flatMap({ Int($0) }) { record.status = status }
        if let status = self.first("BerespStatus").flatMap({ Int($0) }) { record.upstreamStatuses = [status] }
        for tag in self.tags where tag.tag == "ReqHeader" || tag.tag == "BereqHeader" {
            let lower = tag.value.lowercased()
            if lower.hasPrefix("x-request-id:") { record.requestIDs.append(String(tag.value.dropFirst(13).drop { $0 == " " })) }
        }
        record.message = self.first("FetchError").map(String.init) ?? self.first("Error").map(String.init)
        return record
    }
}
