// The NSS key-log parser (KeyLog(parsing:), KeyLog.add(parsing:firstLine:)).
//
// Input: [cut: 1][text]. The text is parsed whole, and again in two parts cut after the
// newline nearest `cut` percent of the way (as the live follower reads a file that grows).
//
// Invariants: parsing in two parts gives the sessions, ignored-line count and error (line
// number and reason) that parsing whole gives; every session is keyed by a 32-byte random and
// a master secret is 48 bytes.
import FuzzSupport
import TLSRecords

struct Outcome: Equatable {
    var sessions: [[UInt8]: KeyLog.Secrets]
    var ignored: Int
    var error: KeyLog.ParseError?
}

func check(_ log: KeyLog) {
    for (random, secrets) in log.sessions {
        require(random.count == 32, "a session keyed by a \(random.count)-byte random")
        require(secrets.masterSecret.map { $0.count == 48 } ?? true, "a master secret of \(secrets.masterSecret!.count) bytes")
        for secret in [secrets.clientHandshakeTraffic, secrets.serverHandshakeTraffic, secrets.clientTraffic0, secrets.serverTraffic0] {
            require(secret.map { !$0.isEmpty } ?? true, "an empty secret")
        }
        require(log.secrets(clientRandom: random) == secrets, "lookup disagrees with the table")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = FuzzReader(data, size)
    let cutByte = Int(input.u8())
    let bytes = input.rest()

    var whole = KeyLog()
    var wholeError: KeyLog.ParseError?
    do throws(KeyLog.ParseError) {
        whole = try KeyLog(parsing: String(decoding: bytes, as: UTF8.self))
    } catch {
        wholeError = error
        // What was read before the bad line is kept by `add`.
        whole = KeyLog()
        _ = try? whole.add(parsing: String(decoding: bytes, as: UTF8.self), firstLine: 1)
    }
    check(whole)

    // Cut just after a line feed, so no line (and no CR LF pair) is split.
    var cut = bytes.count * cutByte / 255
    while cut < bytes.count, cut > 0, bytes[cut - 1] != 0x0a { cut += 1 }
    let first = String(decoding: bytes[..<cut], as: UTF8.self)
    let second = String(decoding: bytes[cut...], as: UTF8.self)
    var parts = KeyLog()
    var partsError: KeyLog.ParseError?
    do throws(KeyLog.ParseError) {
        try parts.add(parsing: first, firstLine: 1)
        // `add` splits on every newline character, so the second part starts after them all.
        let linesBefore = first.isEmpty ? 0 : first.count { $0.isNewline }
        try parts.add(parsing: second, firstLine: linesBefore + 1)
    } catch {
        partsError = error
    }
    check(parts)
    let a = Outcome(sessions: whole.sessions, ignored: whole.ignoredLines, error: wholeError)
    let b = Outcome(sessions: parts.sessions, ignored: parts.ignoredLines, error: partsError)
    require(a == b, "whole vs in two parts at byte \(cut): \(a) vs \(b)")
    return 0
}
