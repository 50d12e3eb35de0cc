// The DNS message decoder (DNSMessage.parse) and DNS over TCP's framing (DNSStream): names with
// compression pointers, loops and forward pointers, records cut anywhere, EDNS.
//
// Input: [seed: 8][message bytes]. The message is parsed as a UDP payload; then it is framed as
// DNS over TCP (two-byte length, RFC 1035 §4.2.2) twice in a row and fed to one direction of a
// DNSStream whole, and cut into seed-chosen pieces (each piece a segment, in order, some sent
// twice as a retransmission would be).
//
// Invariants: parsing never traps and gives the same result twice; a parsed message's question
// name is at most 253 characters of at most 255 wire bytes, and it keeps at most
// `maximumRecordsKept` answers; both feedings give the same two messages, each the bytes framed.
import CaptureModel
import FuzzSupport

@testable import DNS

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = FuzzReader(data, size)
    var random = SplitMix(seed: input.u64())
    let message = Array(input.rest().prefix(0xffff))

    let first = message.withUnsafeBytes { DNSMessage.parse($0) }
    let second = message.withUnsafeBytes { DNSMessage.parse($0) }
    require(first == second, "parsing the same bytes twice differs")
    if case .success(let parsed) = first {
        require(parsed.questionName.utf8.count <= 255, "a name longer than 255 bytes: \(parsed.questionName.utf8.count)")
        require(parsed.answers.count <= DNSMessage.maximumRecordsKept, "\(parsed.answers.count) answers kept")
        for answer in parsed.answers { require(answer.name.utf8.count <= 255, "an answer's name longer than 255 bytes") }
    }

    let framed = [UInt8(message.count >> 8), UInt8(message.count & 0xff)] + message
    let stream = framed + framed
    let start: UInt32 = 0xffff_fff0 &+ UInt32(truncatingIfNeeded: random.below(64))

    var whole = DNSStream.Half()
    var wholeMessages = whole.feed(sequence: start &- 1, flags: (syn: true, fin: false), payload: UnsafeRawBufferPointer(start: nil, count: 0)).messages
    wholeMessages += stream.withUnsafeBytes { whole.feed(sequence: start, flags: (syn: false, fin: false), payload: $0).messages }

    var split = DNSStream.Half()
    var splitMessages = split.feed(sequence: start &- 1, flags: (syn: true, fin: false), payload: UnsafeRawBufferPointer(start: nil, count: 0)).messages
    var offset = 0
    while offset < stream.count {
        let end = min(stream.count, offset + 1 + random.below(24))
        let repeats = random.below(8) == 0 ? 2 : 1
        for _ in 0..<repeats {
            let result = stream[offset..<end].withUnsafeBytes {
                split.feed(sequence: start &+ UInt32(offset), flags: (syn: false, fin: false), payload: $0)
            }
            require(!result.gap, "an in-order piece made a gap")
            splitMessages += result.messages
        }
        offset = end
    }
    require(wholeMessages == [message, message], "fed whole: \(wholeMessages.count) messages")
    require(splitMessages == wholeMessages, "fed in pieces: \(splitMessages.count) messages")
    return 0
}
