// The FastCGI analyzer, both directions (FCGIConnection): records, the CGI head inside
// FCGI_STDOUT, FCGI_STDERR, FCGI_END_REQUEST, requests from FCGI_PARAMS.
//
// Input: [seed: 8][client length: 2][gap: 2][client bytes][server bytes], as FuzzHTTP1's. The
// seed cuts both streams into interleaved frames and each frame again into pieces; a non-zero
// `gap` puts a capture gap of `gap & 0x3ff` bytes into the server stream at a seed-chosen offset;
// the gap's low bit of the seed's first byte picks whether the application (FIN) or the gateway
// closes at the end.
//
// Invariants (the split invariant): feeding frames whole and feeding the same frames cut into
// pieces give the same findings (code, severity, value, every evidence's offsets, content
// offset, frame, frame offset, bytes and context), unchecked gaps, transactions, stderr text and
// end state; every evidence's first byte outside FCGI_STDOUT content lies in the frame it names
// at the frame offset it names, and its bytes are the bytes fed.
import CaptureModel
import FastCGI
import FuzzSupport
import HTTP1

struct Run {
    var connection = FCGIConnection()
    var end: ResponseEnd?

    mutating func feed(_ pieces: [Piece], streams: [Direction: [UInt8]], gap: (offset: Int, length: Int)?, peerCloses: Bool) {
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
        self.connection.close(byPeer: peerCloses)
        self.end = self.connection.responseEnd
        self.connection.finish()
    }

    var summary: [String] {
        var lines = self.connection.findings.map { describe($0) + " content=\($0.evidence.map { $0.contentOffset.map(String.init) ?? "-" })" }
        lines += self.connection.uncheckedGaps.map { "gap \($0.streamOffset)+\($0.length) frame=\($0.frame.map(String.init) ?? "-")" }
        lines += self.connection.transactions.map { "\($0)" }
        lines.append("dropped=\(self.connection.transactionsDropped) end=\(String(describing: self.end))")
        lines.append("5xx=\(String(describing: self.connection.upstream5xx)) fcgi=\(self.connection.gatewaySpeaksFastCGI)")
        lines.append("stderr=\(String(describing: self.connection.stderr))")
        return lines
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = FuzzReader(data, size)
    let seed = input.u64()
    var random = SplitMix(seed: seed)
    let clientLength = Int(input.u16())
    let gapField = Int(input.u16())
    let client = input.take(clientLength)
    let server = input.rest()
    let peerCloses = seed & 1 == 1
    let plan = SplitPlan(clientCount: client.count, serverCount: server.count, random: &random)
    var gap: (offset: Int, length: Int)?
    if gapField != 0 {
        let offset = plan.serverFrameBoundary(&random, serverCount: server.count)
        gap = (offset, 1 + gapField & 0x3ff)
    }

    var whole = Run()
    whole.feed(plan.frames, streams: [.client: client, .server: server], gap: gap, peerCloses: peerCloses)
    var split = Run()
    split.feed(plan.pieces, streams: [.client: client, .server: server], gap: gap, peerCloses: peerCloses)

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
            }
            // The CGI head's and stderr's evidence shows content bytes (record headers between
            // them left out, credentials masked): only where it starts is checked.
            if evidence.contentOffset != nil {
                adjusted.bytes = []
                adjusted.context = []
            }
            checkEvidence(adjusted, streams: [.client: client, .server: server], plan: plan, context: "\(finding.code)")
        }
    }
    return 0
}
