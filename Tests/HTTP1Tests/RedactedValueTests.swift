import CaptureModel
import HTTP1
import Testing

/// A finding's value is taken from its evidence, so a credential masked in the evidence is
/// masked in the value too, however the stream is cut (found by FuzzHTTP1).
@Test(arguments: [0, 3, 9, 11, 12])
func nonHTTPResponseValueIsMaskedWhereverTheStreamIsCut(cut: Int) throws {
    let request = Array("GET / HTTP/1.1\r\nHost: up\r\n\r\n".utf8)
    let response = Array("Cookie: a=b\r\nxyzxyzxyz\r\n".utf8)
    var http = HTTP1Connection()
    request.withUnsafeBytes { raw in
        http.feed(raw, direction: .client, at: 0, frame: 4, frameOffset: 54, time: .zero)
    }
    let pieces = cut == 0 ? [response[...]] : [response[..<cut], response[cut...]]
    var offset: UInt64 = 0
    for (index, piece) in pieces.enumerated() {
        Array(piece).withUnsafeBytes { raw in
            http.feed(raw, direction: .server, at: offset, frame: FrameNumber(5 + index), frameOffset: 54, time: .zero)
        }
        offset += UInt64(piece.count)
    }
    let finding = try #require(http.findings.first { $0.code == .protoNonHTTPResponse })
    #expect(finding.value == "Cookie: ***\r\nxyz")
    #expect(finding.evidence.first?.bytes == Array("Cookie: ***\r\nxyz".utf8))
}
