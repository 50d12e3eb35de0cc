/// Credentials never leave edgescope in a report unless asked (`--no-redact`): the values of
/// `Authorization`, `Proxy-Authorization`, `Cookie`, `Set-Cookie` and the common API-token
/// fields are replaced by `*` in evidence bytes. (Pcap slices keep the raw packets; the README
/// says so.)
public enum Redaction {
    /// Field names whose values are masked, lower case.
    public static let fieldNames: [[UInt8]] = [
        "authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "x-auth-token", "x-amz-security-token",
        "x-vault-token", "x-csrf-token",
    ].map { Array($0.utf8) }
    /// The byte that replaces a masked one.
    public static let mask = UInt8(ascii: "*")

    /// `bytes` (a head or part of one) with every credential field's value masked.
    public static func masked(_ bytes: [UInt8]) -> [UInt8] {
        var out = bytes
        var lineStart = 0
        while lineStart < out.count {
            var lineEnd = lineStart
            while lineEnd < out.count, out[lineEnd] != 0x0a { lineEnd += 1 }
            if let colon = out[lineStart..<lineEnd].firstIndex(of: 0x3a) {
                var nameEnd = colon
                while nameEnd > lineStart, out[nameEnd - 1] == 0x20 || out[nameEnd - 1] == 0x09 { nameEnd -= 1 }
                if self.isCredential(out[lineStart..<nameEnd]) {
                    var index = colon + 1
                    while index < lineEnd, out[index] == 0x20 || out[index] == 0x09 { index += 1 }
                    while index < lineEnd, out[index] != 0x0d {
                        out[index] = self.mask
                        index += 1
                    }
                }
            }
            lineStart = lineEnd + 1
        }
        return out
    }

    /// Whether a field name is a credential's, in any case; nothing allocated (every head a
    /// sample keeps passes here).
    private static func isCredential(_ name: ArraySlice<UInt8>) -> Bool {
        self.fieldNames.contains { field in
            field.count == name.count
                && zip(field, name).allSatisfy { $0 == ($1 >= 0x41 && $1 <= 0x5a ? $1 | 0x20 : $1) }
        }
    }
}
