// The whole analysis of a capture file: PcapReader (libpcap) → Engine → JSON, text and
// Markdown reports, with OpenSSL verifying any certificate chain seen.
//
// Input: a .pcap or .pcapng file, written to a file in /dev/shm (memory) and read by path, as
// `edgescope analyze` reads it. The reassembly caps are small, so they are hit.
//
// Invariants: the buffered and retained bytes stay within their caps after every frame; every
// connection's frames and every evidence's frame are records of the file; an evidence's frame
// offset lies inside its frame and its bytes, as far as the frame's payload goes, are that
// frame's (or the redaction mask); the JSON
// report parses; the text summary holds no control character but newline (terminal safety).
@testable import Engine
import CaptureModel
import Foundation
import FuzzSupport
import OpenSSLAdapters
import OpenSSLBridge
import PacketDecoding
import PcapSource
import Reporting
import TCPReassembly

let path = "/dev/shm/edgescope-fuzz-\(getpid()).pcap"
let limits = ReassemblyLimits(
    maxBufferedBytesPerDirection: 2000, maxBufferedBytesTotal: 5000, retainedBytesPerDirection: 256, retainedBytesTotal: 1024,
    maxConnections: 8, idleTimeout: 30_000_000_000, closedLinger: 1_000_000_000)
let verifier: OpenSSLChainVerifier? = (try? TrustStore.systemDefault()).map { OpenSSLChainVerifier(verifier: ChainVerifier(trustStore: $0)) }

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard FileManager.default.createFile(atPath: path, contents: Data(bytes: data, count: size)) else {
        require(false, "cannot write \(path)")
        return 0
    }
    defer { unlink(path) }
    let reader: PcapReader
    do {
        reader = try PcapReader(path: path)
    } catch {
        return 0  // a one-line error: the command exits 2
    }
    var options = AnalysisOptions(limits: limits, verifier: verifier)
    options.retention = .all
    var engine = Engine(linkType: reader.linkType, options: options)
    var frames: [[UInt8]] = []
    // Where each frame's TCP payload ends: bytes after it (Ethernet padding) are not stream bytes,
    // and evidence that runs on past it continues in a later frame.
    var payloadEnds: [Int] = []
    var shadow = PacketDecoder(linkType: reader.linkType)
    var readError: String?
    do {
        try reader.forEachFrame { frame in
            frames.append(Array(frame.bytes))
            if case .tcp(let segment) = shadow.decode(frame), let offset = segment.payloadFrameOffset {
                payloadEnds.append(offset + segment.payload.count)
            } else {
                payloadEnds.append(frame.bytes.count)
            }
            engine.process(frame)
            let budget = engine.flows.budget
            require(budget.bufferedBytes >= 0 && budget.bufferedBytes <= limits.maxBufferedBytesTotal, "buffered \(budget.bufferedBytes)")
            require(budget.retainedBytes >= 0 && budget.retainedBytes <= limits.retainedBytesTotal, "retained \(budget.retainedBytes)")
            require(engine.liveConnections <= limits.maxConnections, "\(engine.liveConnections) connections live")
        }
    } catch {
        if reader.framesRead == 0 { return 0 }
        readError = error.reason
        engine.addWarning("The capture is cut short: \(error.reason).")
    }
    let result = engine.finish()
    require(engine.flows.budget.bufferedBytes == 0 && engine.flows.budget.retainedBytes == 0, "bytes held after finish")

    let count = FrameNumber(frames.count)
    for connection in result.connections {
        require(connection.frames.lowerBound >= 1 && connection.frames.upperBound <= count, "\(connection.name) frames \(connection.frames) of \(count)")
        for transaction in connection.transactions {
            if let frame = transaction.request?.frame { require(frame >= 1 && frame <= count, "request frame \(frame)") }
            if let frame = transaction.response?.frame { require(frame >= 1 && frame <= count, "response frame \(frame)") }
        }
        for finding in connection.findings {
            for evidence in finding.evidence {
                guard let frame = evidence.frame else { continue }
                require(frame >= 1 && frame <= count, "\(finding.code) evidence names frame \(frame) of \(count)")
                guard let frameOffset = evidence.frameOffset else { continue }
                let bytes = frames[Int(frame) - 1]
                require(frameOffset >= 0 && frameOffset <= bytes.count && (frameOffset < bytes.count || evidence.bytes.isEmpty),
                        "\(finding.code) evidence at offset \(frameOffset) of frame \(frame), which has \(bytes.count) bytes: \(evidence)")
                for (index, byte) in evidence.bytes.enumerated() where frameOffset + index < payloadEnds[Int(frame) - 1] {
                    let actual = bytes[frameOffset + index]
                    require(byte == actual || byte == UInt8(ascii: "*"),
                            "\(finding.code) evidence byte \(index) is \(byte), frame \(frame) has \(actual) at \(frameOffset + index): \(evidence)")
                }
            }
        }
    }

    let source = SourceInfo(path: path, snapLength: reader.snapLength, readError: readError)
    let document = JSONReport.document(result, source: source)
    let json = document.serialized(pretty: true)
    require((try? JSONSerialization.jsonObject(with: Data(json.utf8))) != nil, "the JSON report does not parse:\n\(json)")
    // Our own parser reads back what we wrote, and the reports rendered from it do not depend
    // on whether the document was read back or built (edgescope report's round trip).
    let parsed = try? JSONValue(parsing: json)
    require(parsed == document, "the JSON report does not read back as written")
    let text = TextSummary.render(result, source: source)
    for scalar in text.unicodeScalars where scalar.value < 0x20 && scalar != "\n" || (0x7f...0x9f).contains(scalar.value) {
        require(false, "the text summary holds control character \(scalar.value):\n\(text)")
    }
    guard let built = try? ReportDocument(document), let parsed, let read = try? ReportDocument(parsed) else {
        require(false, "the report document cannot be read")
        return 0
    }
    require(MarkdownReport.render(built) == MarkdownReport.render(read), "report.md differs after the JSON round trip")
    let html = HTMLReport.render(built)
    require(html == HTMLReport.render(read), "report.html differs after the JSON round trip")
    // One script element: the page's own.
    require(html.components(separatedBy: "<script").count == 2, "report.html holds a script element from the wire")
    return 0
}
