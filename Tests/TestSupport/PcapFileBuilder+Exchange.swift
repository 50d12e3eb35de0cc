import CaptureModel
import PacketDecoding

extension PcapFileBuilder {
    /// One upstream connection, frames 1 ms apart after `time`: handshake, the gateway's
    /// `request`, then the upstream's `response` and the gateway's FIN, or with no response
    /// the upstream's RST. The shape most command-line tests need.
    public mutating func appendExchange(
        from gateway: Endpoint, to upstream: Endpoint, request: [UInt8], response: [UInt8]?, time: inout Int64
    ) {
        func add(_ frame: [UInt8]) {
            time += 1_000_000
            self.append(frame, at: Timestamp(nanoseconds: time))
        }
        let afterRequest = 101 + UInt32(request.count)
        add(FrameBuilder.tcp(from: gateway, to: upstream, seq: 100, flags: .syn))
        add(FrameBuilder.tcp(from: upstream, to: gateway, seq: 500, ack: 101, flags: [.syn, .ack]))
        add(FrameBuilder.tcp(from: gateway, to: upstream, seq: 101, ack: 501, flags: .ack))
        add(FrameBuilder.tcp(from: gateway, to: upstream, seq: 101, ack: 501, flags: [.psh, .ack], payload: request))
        if let response {
            add(FrameBuilder.tcp(from: upstream, to: gateway, seq: 501, ack: afterRequest, flags: [.psh, .ack], payload: response))
            add(FrameBuilder.tcp(from: gateway, to: upstream, seq: afterRequest, ack: 501 + UInt32(response.count), flags: [.fin, .ack]))
        } else {
            add(FrameBuilder.tcp(from: upstream, to: gateway, seq: 501, ack: afterRequest, flags: [.rst, .ack]))
        }
    }

    /// A file of one such exchange, from 10.0.0.1:40000 to 10.0.3.24:8080, starting at 1.7e18 ns.
    public static func oneExchange(request: [UInt8], response: [UInt8]?) -> PcapFileBuilder {
        var file = PcapFileBuilder()
        var time: Int64 = 1_700_000_000_000_000_000
        file.appendExchange(
            from: Endpoint(address: .v4(0x0a00_0001), port: 40000), to: Endpoint(address: .v4(0x0a00_0318), port: 8080),
            request: request, response: response, time: &time)
        return file
    }
}
