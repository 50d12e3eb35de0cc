import CaptureModel

/// One `--gateway-address ADDR[:PORT]`: where the gateway listens for its clients. Connections to
/// it are the client-to-gateway hop, examined for the errors clients saw rather than judged as
/// an upstream's.
public struct GatewayAddress: Hashable, Sendable, CustomStringConvertible {
    /// The address.
    public var address: IPAddress
    /// The port, or `nil` for every port on that address.
    public var port: UInt16?

    /// An address from its parts.
    public init(address: IPAddress, port: UInt16?) {
        self.address = address
        self.port = port
    }

    /// Parses `ADDR[:PORT]` (`10.0.0.5:443`, `[::1]:8080`, `10.0.0.5`); `nil` if malformed.
    public init?(parsing text: String) {
        let text = Substring(text)
        if let endpoint = Endpoint(parsing: text) {
            self.init(address: endpoint.address, port: endpoint.port)
        } else if let address = IPAddress(parsing: text.hasPrefix("[") && text.hasSuffix("]") ? text.dropFirst().dropLast() : text) {
            self.init(address: address, port: nil)
        } else {
            return nil
        }
    }

    /// Whether `endpoint` is this listener.
    public func matches(_ endpoint: Endpoint) -> Bool {
        self.address == endpoint.address && (self.port ?? endpoint.port) == endpoint.port
    }

    /// `10.0.0.5:443`, or the address alone.
    public var description: String {
        if let port { return Endpoint(address: self.address, port: port).description }
        return self.address.text
    }
}
