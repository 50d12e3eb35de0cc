import CaptureModel
import Foundation

/// The certificates `Fixtures/make-certs.sh` wrote, and helpers to read them.
enum Fixtures {
    /// The Fixtures directory inside the test bundle.
    static let directory: URL = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")

    /// The path of a fixture file.
    static func path(_ name: String) -> String {
        directory.appendingPathComponent(name).path
    }

    /// The raw bytes of a fixture file.
    static func bytes(_ name: String) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path(name)) else {
            preconditionFailure("fixture \(name) is missing: run Fixtures/make-certs.sh")
        }
        return [UInt8](data)
    }

    /// The DER of every certificate in a PEM fixture, in file order.
    static func der(_ name: String) -> [[UInt8]] {
        derFromPEM(String(decoding: bytes(name), as: UTF8.self))
    }

    /// The DER of every certificate in PEM text, in order.
    static func derFromPEM(_ text: String) -> [[UInt8]] {
        var blocks: [[UInt8]] = []
        var base64 = ""
        var inside = false
        for line in text.split(whereSeparator: \.isNewline) {
            if line.hasPrefix("-----BEGIN CERTIFICATE-----") {
                inside = true
                base64 = ""
            } else if line.hasPrefix("-----END CERTIFICATE-----") {
                inside = false
                blocks.append([UInt8](Data(base64Encoded: base64)!))
            } else if inside {
                base64 += line
            }
        }
        return blocks
    }

    /// The one certificate of a PEM fixture, DER.
    static func certificate(_ name: String) -> [UInt8] {
        der(name)[0]
    }

    /// A chain for `ChainVerifier`, leaf first, from PEM fixture names.
    static func chain(_ names: String...) -> [[UInt8]] {
        names.map(certificate)
    }

    /// Midnight UTC of a date (proleptic Gregorian).
    static func utc(_ year: Int64, _ month: Int64, _ day: Int64) -> Timestamp {
        // Howard Hinnant's days-from-civil.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        return Timestamp(seconds: days * 86_400, nanoseconds: 0)
    }

    /// The wall clock now.
    static var now: Timestamp {
        Timestamp(nanoseconds: Int64(Date().timeIntervalSince1970 * 1_000_000_000))
    }

    /// Bytes from hex text with any whitespace or colons between digits.
    static func hex(_ text: String) -> [UInt8] {
        let digits = text.unicodeScalars.filter { CharacterSet(charactersIn: "0123456789abcdefABCDEF").contains($0) }
        var bytes: [UInt8] = []
        var iterator = digits.makeIterator()
        while let high = iterator.next(), let low = iterator.next() {
            bytes.append(UInt8(String(high) + String(low), radix: 16)!)
        }
        return bytes
    }
}
