import Diagnosis
import Engine

/// `--gateway-address ADDR[:PORT]`, as `analyze` and `capture` both take it.
enum GatewayAddressOption {
    /// The listeners given; a malformed one is a usage error (status 1).
    static func parse(_ texts: [String]) throws -> [GatewayAddress] {
        try texts.map { text in
            guard let listener = GatewayAddress(parsing: text) else {
                throw ToolFailure(status: 1, message: "--gateway-address '\(text)' is not ADDR[:PORT] (for IPv6: [ADDR]:PORT)")
            }
            return listener
        }
    }
}

/// `--gateway FAMILY[:VERSION]`, as `analyze` and `capture` both take it.
enum GatewayOption {
    /// The families, for the option's help: `nginx|haproxy|envoy|strict[:VERSION]`.
    static var help: String {
        let example = GatewayProfile.default.model
        let release = example.releases.last.map { " e.g. \(example.name):\($0);" } ?? ""
        return "Whose behaviour decides each verdict's class: \(Gateways.all.map(\.name).joined(separator: "|"))[:VERSION] (a release edgescope knows,\(release) default \(example.name), its newest behaviour known)."
    }

    /// The profile; an unknown family or release is a usage error (status 1) naming the known ones.
    static func parse(_ text: String) throws -> GatewayProfile {
        do throws(GatewayProfile.ParseError) {
            return try GatewayProfile(validating: text)
        } catch {
            throw ToolFailure(status: 1, message: "--gateway \(error.description)")
        }
    }
}
