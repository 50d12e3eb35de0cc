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
