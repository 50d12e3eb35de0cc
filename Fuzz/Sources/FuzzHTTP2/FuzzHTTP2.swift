// The HTTP/2 analyzer, both directions (HTTP2Connection): frames, HPACK (NIOHPACK), streams.
//
// Input: [seed: 8][client length: 2][gap: 2][client bytes][server bytes]. The client bytes come
// after the 24-byte preface, which the target puts in front (the analyzer skips it). The seed
// cuts both streams into interleaved frames and each frame again into pieces; a non-zero `gap`
// puts a capture gap of `gap & 0x3ff` bytes into the server stream at a seed-chosen offset.
//
// Invariants: feeding frames whole and feeding the same frames cut into pieces give the same
// findings (code, severity, value, every evidence's offsets, frame, frame offset, stream id,
// bytes and context), unchecked gaps, transactions and end state (the split test); every
// evidence's first byte lies in the frame it names at the frame offset it names, and its bytes
// are the bytes fed.
import CaptureModel
import FuzzSupport
import HTTP1
import HTTP2

let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

struct Run {
    var connection = HTTP2Connection()
    var end: ResponseEnd?

    mutating func feed(_ pieces: [Piece], streams: [Direction: [UInt8]], gap: (offset: Int, length: Int)?) {
        var gapDone = gap == nil
        for piece in pieces {
            let bytes = streams[piece.direction]!
            var startOffset = UInt64(piece.start)
            if piece.direction == .server, let gap {
                if !gapDone, piece.start >= gap.offset {
                    self.connection.gap(
                        UInt64(gap.offset)..<UInt64(gap.offset + gap.length), direction: .server, frame: nil, truncated: false)
                    gapDone = true
                }
                if piece.start >= gap.offset { startOffset += UInt64(gap.length) }
            }
            bytes[piece.start..<piece.end].withUnsafeBytes { raw in
                self.connection.feed(
                    raw, direction: piece.direction, at: startOffset, frame: piece.frame, frameOffset: piece.frameOffset,
                    time: piece.time)
            }
        }
        if !gapDone, let gap {
            self.connection.gap(UInt64(gap.offset)..<UInt64(gap.offset + gap.length), direction: .server, frame: nil, truncated: false)
        }
        self.connection.ended()
        self.end = self.connection.responseEnd
        self.connection.finish()
    }

    var summary: [String] {
        var lines = self.connection.findings.map { finding in
            describe(finding) + " stream=\(finding.evidence.map { $0.streamID.map(String.init) ?? "-" })"
        }
        lines += self.connection.uncheckedGaps.map { "gap \($0.streamOffset)+\($0.length) frame=\($0.frame.map(String.init) ?? "-") \($0.note)" }
        lines += self.connection.transactions.map { "\($0)" }
        lines.append("dropped=\(self.connection.transactionsDropped) end=\(String(describing: self.end))")
        lines.append("5xx=\(String(describing: self.connection.upstream5xx))")
        return lines
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = FuzzReader(data, size)
    var random = SplitMix(seed: input.u64())
    let clientLength = Int(input.u16())
    let gapField = Int(input.u16())
    let client = preface + input.take(clientLength)
    let server = input.rest()
    var streams: [Direction: [UInt8]] = [.client: client, .server: server]
    let plan = SplitPlan(clientCount: client.count, serverCount: server.count, random: &random)
    var gap: (offset: Int, length: Int)?
    if gapField != 0 {
        let offset = plan.serverFrameBoundary(&random, serverCount: server.count)
        gap = (offset, 1 + gapField & 0x3ff)
        streams[.server] = Array(server[..<offset]) + [UInt8](repeating: 0, count: gap!.length) + Array(server[offset...])
    }

    var whole = Run()
    whole.feed(plan.frames, streams: [.client: client, .server: server], gap: gap)
    var split = Run()
    split.feed(plan.pieces, streams: [.client: client, .server: server], gap: gap)

    let wholeSummary = whole.summary
    let splitSummary = split.summary
    require(wholeSummary == splitSummary, "split test: frames whole gave\n\(wholeSummary.joined(separator: "\n"))\nframes cut into pieces gave\n\(splitSummary.joined(separator: "\n"))")

    for finding in whole.connection.findings {
        for evidence in finding.evidence {
            var adjusted = evidence
            if evidence.direction == .server, let gap, evidence.streamOffset >= UInt64(gap.offset) {
                if evidence.streamOffset < UInt64(gap.offset + gap.length) {
                    require(evidence.frame == nil || evidence.bytes.isEmpty, "evidence inside the gap has bytes: \(evidence)")
                    continue
                }
                adjusted.streamOffset -= UInt64(gap.length)
                adjusted.contextOffset -= UInt64(gap.length)
            }
            checkEvidence(adjusted, streams: [.client: client, .server: server], plan: plan, context: "\(finding.code)")
        }
    }
    _ = streams
    return 0
}
