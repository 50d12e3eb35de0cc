import CaptureModel

/// The two inline SVG diagrams: failures over time per upstream, and a connection's TCP ladder.
extension HTMLReport {
    // MARK: Timeline

    static func timeline(_ document: ReportDocument, _ html: inout HTMLWriter) {
        html.element("section", [("id", "timeline")]) { html in
            html.element("h2", text: "Failures over time, by upstream")
            guard let timeline = document.timelineRows, !timeline.rows.isEmpty else {
                html.element("p", text: "No connection to place on a timeline.")
                return
            }
            let window = (first: timeline.first, last: timeline.last)
            let bins = Timeline.bins
            let span = window.last.nanoseconds(since: window.first)
            let rows = timeline.rows
            let highest = max(1, rows.map { $0.failed.max() ?? 0 }.max() ?? 0)

            let rowHeight = 30
            let labelRight = 250
            let plotLeft = 260
            let binWidth = 11
            let plotWidth = bins * binWidth
            // Room on the right for half the last time label, which is centred on the plot's end.
            let width = plotLeft + plotWidth + 50
            let height = 12 + rows.count * rowHeight + 30
            html.element("svg", [
                ("class", "timeline"), ("viewBox", "0 0 \(width) \(height)"), ("width", "\(width)"), ("height", "\(height)"),
                ("role", "img"), ("aria-label", "Failed connections over time for each upstream"),
            ]) { html in
                for (number, item) in rows.enumerated() {
                    let top = 12 + number * rowHeight
                    let base = top + rowHeight - 6
                    let total = item.started.reduce(0, +)
                    let bad = item.failed.reduce(0, +)
                    html.element("text", [("x", "\(labelRight)"), ("y", "\(base - 6)"), ("class", bad > 0 ? "tl-label bad" : "tl-label")],
                                 text: Self.clip(String(item.label.prefix(34))) + "  \(bad)/\(total)")
                    html.void("line", [("x1", "\(plotLeft)"), ("y1", "\(base)"), ("x2", "\(plotLeft + plotWidth)"), ("y2", "\(base)"), ("class", "tl-axis")])
                    for b in 0..<bins where item.started[b] > 0 {
                        let x = plotLeft + b * binWidth
                        if item.failed[b] > 0 {
                            let barHeight = max(3, item.failed[b] * (rowHeight - 8) / highest)
                            html.element("rect", [
                                ("x", "\(x)"), ("y", "\(base - barHeight)"), ("width", "\(binWidth - 1)"), ("height", "\(barHeight)"), ("class", "tl-fail"),
                            ]) { html in
                                html.element("title", text: "\(Self.clip(item.label)): \(item.failed[b]) failed of \(item.started[b]) started, \(Self.clock(Self.binStart(b, window: window))) to \(Self.clock(Self.binStart(b + 1, window: window)))")
                            }
                        } else {
                            html.void("rect", [("x", "\(x)"), ("y", "\(base - 2)"), ("width", "\(binWidth - 1)"), ("height", "2"), ("class", "tl-seen")])
                        }
                    }
                }
                let axis = 12 + rows.count * rowHeight + 14
                for quarter in 0...4 {
                    let x = plotLeft + plotWidth * quarter / 4
                    // The last label ends at the plot's end, so it never runs past the picture.
                    html.element("text", [("x", "\(x)"), ("y", "\(axis)"), ("class", quarter == 4 ? "tl-time last" : "tl-time")],
                                 text: Self.clock(Self.binStart(bins * quarter / 4, window: window)))
                }
            }
            html.element("p", [("class", "muted")], text: "Each column is 1/\(bins) of the capture window (\(MarkdownReport.duration(span))); red bars: connections that started then and the gateway failed (tallest: \(highest)); grey: connections that started then. Counts after each upstream: failed/started.")
        }
    }

    static func binStart(_ bin: Int, window: (first: Timestamp, last: Timestamp)) -> Timestamp {
        let span = window.last.nanoseconds(since: window.first)
        return Timestamp(nanoseconds: window.first.nanoseconds + Int64((Double(span) * Double(bin) / Double(Self.timelineBins)).rounded()))
    }

    /// `01:12:42.582`: the time of day, to the millisecond.
    static func clock(_ time: Timestamp) -> String {
        let text = Array(time.rfc3339)
        return text.count >= 23 ? String(text[11..<23]) : String(text)
    }

    // MARK: Ladder

    enum PacketKind: String {
        case syn, fin, rst, data, ack

        /// The raw value, as a literal to write.
        var literal: StaticString {
            switch self {
            case .syn: return "syn"
            case .fin: return "fin"
            case .rst: return "rst"
            case .data: return "data"
            case .ack: return "ack"
            }
        }
    }

    /// Arrowheads the ladders share, one per packet kind (CSS gives them their colours).
    static func markerDefinitions(_ html: inout HTMLWriter) {
        html.element("svg", [("class", "defs"), ("width", "0"), ("height", "0"), ("aria-hidden", "true")]) { html in
            html.element("defs") { html in
                for kind in [PacketKind.syn, .fin, .rst, .data, .ack] {
                    html.element("marker", [
                        ("id", "arrow-" + kind.rawValue), ("viewBox", "0 0 10 10"), ("refX", "10"), ("refY", "5"),
                        ("markerWidth", "7"), ("markerHeight", "7"), ("orient", "auto"),
                    ]) { html in
                        html.void("path", [("d", "M0,0L10,5L0,10z"), ("class", "head-" + kind.rawValue)])
                    }
                }
            }
        }
    }

    /// The gateway's and the upstream's lifelines with one arrow per packet kept: flags,
    /// relative seq/ack, payload length, time since the first packet and frame number.
    static func ladder(_ ladder: JSONValue, client: String, server: String, _ html: inout HTMLWriter) {
        var packets = ladder["packets"].items
        var omittedAfter = ladder["omitted_after"].int ?? packets.count
        var omitted = max(0, ladder["omitted"].int ?? 0)
        let keep = 24 + 8
        if packets.count > keep {
            // A hand-made document with more packets than a run keeps: the same shape, bounded.
            omitted += packets.count - keep
            packets = Array(packets.prefix(24) + packets.suffix(8))
            omittedAfter = 24
        }
        guard !packets.isEmpty else { return }
        let gapRows = omitted > 0 ? 1 : 0
        let rowHeight = 22
        let gateway = 190
        let upstream = 560
        let middle = (gateway + upstream) / 2
        let top = 44
        let height = top + (packets.count + gapRows) * rowHeight + 8
        html.element("svg", [
            ("class", "ladder"), ("viewBox", "0 0 720 \(height)"), ("width", "720"), ("height", "\(height)"), ("role", "img"),
            ("aria-label", "TCP ladder: \(ladder["omitted"].int.map { "\(packets.count + $0)" } ?? "\(packets.count)") packets between gateway and upstream"),
        ]) { html in
            html.element("text", [("x", "\(gateway)"), ("y", "13"), ("class", "who")], text: "gateway")
            html.element("text", [("x", "\(upstream)"), ("y", "13"), ("class", "who")], text: "upstream")
            html.element("text", [("x", "\(gateway)"), ("y", "27"), ("class", "addr")], text: String(client.prefix(44)))
            html.element("text", [("x", "\(upstream)"), ("y", "27"), ("class", "addr")], text: String(server.prefix(44)))
            html.element("text", [("x", "\(gateway - 8)"), ("y", "40"), ("class", "col t")], text: "time")
            html.element("text", [("x", "\(upstream + 8)"), ("y", "40"), ("class", "col")], text: "frame")
            for x in [gateway, upstream] {
                html.void("line", [("x1", "\(x)"), ("y1", "32"), ("x2", "\(x)"), ("y2", "\(height - 4)"), ("class", "life")])
            }
            var row = 0
            for (index, packet) in packets.enumerated() {
                if index == omittedAfter, omitted > 0 {
                    let y = top + row * rowHeight
                    html.element("text", [("x", "\(middle)"), ("y", "\(y + 14)"), ("class", "gap")], text: "⋯ \(omitted) packet(s) not drawn ⋯")
                    row += 1
                }
                Self.ladderRow(packet, y: top + row * rowHeight, gateway: gateway, upstream: upstream, &html)
                row += 1
            }
        }
    }

    /// One row: the label, the arrow (its head and colour from CSS by kind), the time and the
    /// frame. Written piece by piece, numbers as digits: a page has thousands of these rows.
    private static func ladderRow(_ packet: JSONValue, y: Int, gateway: Int, upstream: Int, _ html: inout HTMLWriter) {
        var flags: JSONValue?, from: JSONValue?, seq: JSONValue?, ack: JSONValue?, len: JSONValue?, since: JSONValue?, frame: JSONValue?
        // One pass over the members; the first of a repeated key counts, as the subscript reads it.
        for (key, value) in packet.members {
            switch key {
            case "flags": if flags == nil { flags = value }
            case "from": if from == nil { from = value }
            case "seq": if seq == nil { seq = value }
            case "ack": if ack == nil { ack = value }
            case "len": if len == nil { len = value }
            case "since_start_us": if since == nil { since = value }
            case "frame": if frame == nil { frame = value }
            default: break
            }
        }
        let flagText = flags?.string ?? ""
        let length = len?.int ?? 0
        let kind: PacketKind = Self.hasFlag(flagText, "RST") ? .rst : Self.hasFlag(flagText, "SYN") ? .syn
            : Self.hasFlag(flagText, "FIN") ? .fin : length > 0 ? .data : .ack
        let fromGateway = from?.string != "server"
        let middle = (gateway + upstream) / 2
        html.begin("g")
        html.attribute("class", literal: kind.literal)
        html.beginAttribute("transform")
        html.trusted("translate(0 ")
        html.text(y)
        html.trusted(")")
        html.endAttribute()
        html.beginEnd()

        html.begin("text")
        html.attribute("x", middle)
        html.attribute("y", 9)
        html.beginEnd()
        let seqNumber = seq?.int
        let ackNumber = ack?.int
        // The label is clipped at `textLimit` characters: only a long (hand-made) flags text
        // can reach it, so the usual label is written in pieces, the rest built and clipped.
        if flagText.utf8.count <= Self.textLimit - 80 {
            if flagText.isEmpty { html.trusted("(no flags)") } else { html.text(flagText) }
            if let seqNumber {
                html.trusted(" seq=")
                html.text(seqNumber)
            }
            if let ackNumber {
                html.trusted(" ack=")
                html.text(ackNumber)
            }
            if length > 0 {
                html.trusted(" len=")
                html.text(length)
            }
        } else {
            var label = flagText
            if let seqNumber { label += " seq=\(seqNumber)" }
            if let ackNumber { label += " ack=\(ackNumber)" }
            if length > 0 { label += " len=\(length)" }
            html.text(Self.clip(label))
        }
        html.close("text")

        html.begin("line")
        html.attribute("x1", fromGateway ? gateway : upstream)
        html.attribute("y1", 12)
        html.attribute("x2", fromGateway ? upstream - 2 : gateway + 2)
        html.attribute("y2", 19)
        html.selfClose()

        html.begin("text")
        html.attribute("x", gateway - 8)
        html.attribute("y", 18)
        html.beginEnd()
        html.trusted("+")
        let nanoseconds = Int64(((since?.double ?? 0) * 1000).rounded())
        html.formatted { MarkdownReport.duration(max(0, nanoseconds), into: &$0) }
        html.close("text")

        html.begin("text")
        html.attribute("x", upstream + 8)
        html.attribute("y", 18)
        html.beginEnd()
        html.text(frame?.int ?? 0)
        html.close("text")
        html.close("g")
    }

    /// Whether `flags` (names separated by spaces) has the name `flag`.
    static func hasFlag(_ flags: String, _ flag: StaticString) -> Bool {
        flag.withUTF8Buffer { name in
            var flags = flags
            return flags.withUTF8 { bytes in
                var start = 0
                while start <= bytes.count {
                    var end = start
                    while end < bytes.count, bytes[end] != UInt8(ascii: " ") { end += 1 }
                    if end - start == name.count, (0..<name.count).allSatisfy({ bytes[start + $0] == name[$0] }) {
                        return true
                    }
                    start = end + 1
                }
                return false
            }
        }
    }
}
