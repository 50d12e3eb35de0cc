import CaptureModel
import Engine

extension JSONReport {
    /// A failing connection's `comparison`: its response head beside the nearest healthy one,
    /// line by line (docs/json-report.md).
    static func comparison<Output: JSONOutput>(_ comparison: HeadComparison, into out: inout Output) {
        out.beginObject()
        out.member("connection", "c\(comparison.failing.connection)")
        out.member("transaction", number: comparison.failing.transaction)
        out.object("healthy") { out in
            out.member("connection", "c\(comparison.healthy.connection)")
            out.member("transaction", number: comparison.healthy.transaction)
            self.side(comparison.healthy, into: &out)
        }
        out.array("differences") { out in
            for difference in comparison.differences {
                out.object { out in
                    out.member("line", number: difference.line)
                    out.member("failing", difference.failing)
                    out.member("healthy", difference.healthy)
                    out.member("healthy_line", number: difference.healthyLine)
                    out.member("kind", difference.kind.rawValue)
                }
            }
        }
        out.member("matched_by", comparison.matchedBy.rawValue)
        self.side(comparison.failing, into: &out)
        out.key("offending")
        if let offending = comparison.offending {
            out.object { out in
                out.member("line", number: offending.line)
                out.member("column", number: offending.column)
                out.member("stream_offset", number: offending.streamOffset)
                out.member("hex", hexString([offending.byte]))
            }
        } else {
            out.null()
        }
        out.array("failing_head") { out in
            for line in comparison.failing.lines { out.string(line) }
        }
        out.array("healthy_head") { out in
            for line in comparison.healthy.lines { out.string(line) }
        }
        out.array("rows") { out in
            for row in comparison.rows {
                out.beginArray()
                if let failing = row.failing { out.number(failing + 1) } else { out.null() }
                if let healthy = row.healthy { out.number(healthy + 1) } else { out.null() }
                out.endArray()
            }
        }
        out.array("members") { out in
            for member in comparison.members {
                out.object { out in
                    out.member("server", member.server.description)
                    out.member("sends", member.sends)
                    out.member("failing", bool: member.failing)
                    out.key("since")
                    if let since = member.since { out.time(since) } else { out.null() }
                }
            }
        }
        out.endObject()
    }

    /// The fields each side of a comparison has.
    private static func side<Output: JSONOutput>(_ side: HeadComparison.Side, into out: inout Output) {
        out.member("server", side.server.description)
        out.member("request", side.request)
        out.member("status", number: side.status)
        out.key("time")
        out.time(side.time)
        out.member("frame", number: side.frame)
        out.member("stream_offset", number: side.streamOffset)
    }
}
