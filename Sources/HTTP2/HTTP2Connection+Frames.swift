import CaptureModel
import HTTP1

// SETTINGS, RST_STREAM, GOAWAY, WINDOW_UPDATE and DATA (RFC 9113 §6).
extension HTTP2Connection {
    private static func u32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        UInt32(bytes[at]) << 24 | UInt32(bytes[at + 1]) << 16 | UInt32(bytes[at + 2]) << 8 | UInt32(bytes[at + 3])
    }

    /// RFC 9113 §6.5: SETTINGS, on stream 0 only.
    mutating func settingsFrame(_ reader: Reader) {
        guard reader.stream == 0 else {
            if reader.direction == .server {
                self.report(
                    .h2SettingsBadStream, reader: reader, streamID: reader.stream,
                    note: "a SETTINGS frame on stream \(reader.stream), where SETTINGS belong to the connection (stream 0) (RFC 9113 §6.5)",
                    value: String(reader.stream))
            }
            return
        }
        guard reader.flags & HTTP2Wire.ack == 0 else { return }
        var index = 0
        while index + 6 <= reader.payload.count {
            let id = UInt16(reader.payload[index]) << 8 | UInt16(reader.payload[index + 1])
            let value = Self.u32(reader.payload, index + 2)
            index += 6
            switch reader.direction {
            case .client:
                self.gatewaySettingsSeen = true
                switch id {
                case HTTP2Wire.settingsMaxFrameSize:
                    self.gatewayMaxFrameSize = Int(value)
                case HTTP2Wire.settingsHeaderTableSize:
                    self.gatewayHeaderTableSize = Int(value)
                case HTTP2Wire.settingsEnablePush:
                    self.gatewayPushEnabled = value != 0
                case HTTP2Wire.settingsInitialWindowSize:
                    // RFC 9113 §6.9.2: a new initial size moves every open stream's window by the difference.
                    let delta = Int64(value) - self.gatewayInitialWindow
                    self.gatewayInitialWindow = Int64(value)
                    for id in self.streams.keys { self.streams[id]!.window += delta }
                default:
                    break
                }
            case .server:
                // The upstream's table size governs the gateway's encoder: its decoder here takes
                // the larger of the two so the gateway's size updates always fit.
                if id == HTTP2Wire.settingsHeaderTableSize, self.gateway.decoder == nil, Int(value) > HTTP2Wire.defaultHeaderTableSize {
                    self.gatewayTableSize = Int(value)
                }
            }
        }
    }

    /// RFC 9113 §6.4: RST_STREAM ends one stream.
    mutating func rstStreamFrame(_ reader: Reader) {
        guard reader.payload.count >= 4, reader.stream != 0 else { return }
        let code = Self.u32(reader.payload, 0)
        let id = reader.stream
        switch reader.direction {
        case .client:
            // §5.1: frames may still come on a stream the gateway reset; none is the upstream's fault.
            self.streams[id]?.gatewayReset = true
        case .server:
            guard let stream = self.streams[id], !stream.gatewayReset, !stream.upstreamClosed, !stream.broken else { return }
            let name = HTTP2Wire.errorName(code)
            if stream.finalStatus == nil {
                self.report(
                    .h2RSTStreamBeforeResponse, reader: reader, streamID: id,
                    note: "an RST_STREAM frame with error \(name) (\(code)) on stream \(id), before any response head (RFC 9113 §6.4)",
                    value: name)
            } else {
                self.report(
                    .tcpRSTMidBody, reader: reader, streamID: id,
                    note: "an RST_STREAM frame with error \(name) (\(code)) on stream \(id), after its response head and \(stream.dataReceived) bytes of DATA, before END_STREAM (RFC 9113 §6.4)",
                    value: "http2")
            }
            self.streams[id]!.upstreamClosed = true
            self.streams[id]!.ended = reader.start.time
            self.streams[id]!.resetCode = code
            self.retire(id)
        }
    }

    /// RFC 9113 §6.8: GOAWAY; streams above its last-stream-id were not and will not be processed.
    mutating func goawayFrame(_ reader: Reader) {
        guard reader.direction == .server, reader.payload.count >= 8 else { return }
        let last = Self.u32(reader.payload, 0) & 0x7fff_ffff
        let code = Self.u32(reader.payload, 4)
        self.upstreamGoaway = last
        let refused = self.streams.values
            .filter { $0.id > last && $0.request != nil && !$0.upstreamClosed && !$0.gatewayReset && !$0.broken }
            .map(\.id).sorted()
        guard let first = refused.first else { return }
        let name = HTTP2Wire.errorName(code)
        let others = refused.count > 1 ? " (and \(refused.count - 1) more open stream\(refused.count > 2 ? "s" : ""))" : ""
        self.report(
            .h2Goaway, reader: reader, streamID: first,
            note: "a GOAWAY frame with error \(name) (\(code)) and last-stream-id \(last), below stream \(first)\(others), which the upstream so never processed (RFC 9113 §6.8)",
            value: "\(name) last_stream_id=\(last)")
        for id in refused {
            self.streams[id]!.upstreamClosed = true
            self.streams[id]!.ended = reader.start.time
            self.retire(id)
        }
    }

    /// RFC 9113 §6.9: the gateway's WINDOW_UPDATE opens what the upstream may send.
    mutating func windowUpdateFrame(_ reader: Reader) {
        guard reader.direction == .client, reader.payload.count >= 4 else { return }
        let increment = Int64(Self.u32(reader.payload, 0) & 0x7fff_ffff)
        if reader.stream == 0 {
            self.connectionWindow += increment
        } else if self.streams[reader.stream] != nil {
            self.streams[reader.stream]!.window += increment
        }
    }

    // MARK: DATA

    /// A DATA frame's header: the stream it is on, and the windows (RFC 9113 §6.1, §6.9).
    mutating func beginData(_ reader: inout Reader) {
        guard reader.direction == .server, reader.stream != 0 else { return }
        let id = reader.stream
        guard let stream = self.judgedStream(id, reader: reader, frame: "DATA") else { return }
        if stream.finalStatus == nil, stream.headUnknown {
            self.streams[id]!.bodyUnchecked = true
            return
        }
        if stream.finalStatus == nil {
            self.report(
                .h2StatusMissing, reader: reader, streamID: id,
                note: "a DATA frame on stream \(id) before any response head, so the response has no :status (RFC 9113 §8.1)",
                value: nil)
            self.kill(id, at: reader.start.time)
            return
        }
        // §6.9.1: the whole frame, padding too, counts against both windows.
        let length = Int64(reader.length)
        if !self.windowsUnknown, length > self.connectionWindow || length > stream.window {
            let (which, window) = length > self.connectionWindow ? ("connection", self.connectionWindow) : ("stream", stream.window)
            self.report(
                .h2FlowControl, reader: reader, streamID: id,
                note: "a \(reader.length)-byte DATA frame on stream \(id), over the \(window) bytes the gateway's \(which) flow-control window allowed (RFC 9113 §6.9.1)",
                value: "\(which) window \(window), DATA \(reader.length)")
        }
        self.connectionWindow -= length
        self.streams[id]!.window -= length
    }

    /// Part of a DATA frame's payload: counted, and a gRPC message's prefix read; the rest skipped by length.
    mutating func dataChunk(_ chunk: UnsafeRawBufferPointer, reader: inout Reader) {
        guard reader.direction == .server, !chunk.isEmpty, reader.stream != 0 else { return }
        var index = 0
        if reader.dataPadPending {
            reader.dataPadPending = false
            reader.dataContent = max(0, reader.length - 1 - Int(chunk[0]))
            index = 1
        }
        let take = min(reader.dataContent, chunk.count - index)
        guard take > 0 else { return }
        reader.dataContent -= take
        let id = reader.stream
        guard var stream = self.streams.removeValue(forKey: id) else { return }
        defer { self.streams[id] = stream }
        guard !stream.upstreamClosed, !stream.gatewayReset, !stream.broken, stream.finalStatus != nil else { return }
        stream.dataReceived &+= UInt64(take)
        guard stream.isGRPC else { return }
        // gRPC's PROTOCOL-HTTP2.md: each message is a 1-byte compressed flag, a 4-byte length, the bytes.
        var at = index
        let end = index + take
        while at < end {
            if stream.grpcMessageLeft > 0 {
                let skip = Int(min(stream.grpcMessageLeft, UInt64(end - at)))
                stream.grpcMessageLeft -= UInt64(skip)
                at += skip
                continue
            }
            if stream.grpcPrefixRead > 0 { stream.grpcPrefixLength = stream.grpcPrefixLength << 8 | UInt32(chunk[at]) }
            stream.grpcPrefixRead += 1
            at += 1
            if stream.grpcPrefixRead == 5 {
                stream.grpcMessageLeft = UInt64(stream.grpcPrefixLength)
                stream.grpcPrefixRead = 0
                stream.grpcPrefixLength = 0
                stream.grpcMessages += 1
            }
        }
    }

    /// A DATA frame ended: END_STREAM completes the response.
    mutating func endData(_ reader: inout Reader) {
        guard reader.direction == .server, reader.stream != 0 else {
            if reader.direction == .client, reader.flags & HTTP2Wire.endStream != 0 { self.streams[reader.stream]?.gatewayEnded = true }
            return
        }
        let id = reader.stream
        if let stream = self.streams[id], stream.finalStatus == nil, stream.headUnknown, !stream.upstreamClosed,
           reader.flags & HTTP2Wire.endStream != 0 {
            // Its head was not read (lost, or not decodable): the stream ended all the same.
            self.streams[id]!.upstreamClosed = true
            self.retire(id)
            return
        }
        guard let stream = self.streams[id], !stream.upstreamClosed, !stream.gatewayReset, !stream.broken, stream.finalStatus != nil else { return }
        if let expected = stream.contentLength, !stream.bodyUnchecked, !stream.lengthReported,
           stream.dataReceived > expected || (reader.flags & HTTP2Wire.endStream != 0 && stream.dataReceived != expected) {
            self.streams[id]!.lengthReported = true
            self.report(
                .h2ContentLengthMismatch, reader: reader, streamID: id,
                note: "DATA frames of \(stream.dataReceived) bytes on stream \(id) where its content-length said \(expected) (RFC 9113 §8.1.1)",
                value: "content-length \(expected), DATA \(stream.dataReceived)")
        }
        if reader.flags & HTTP2Wire.endStream != 0 { self.complete(id, at: reader.start.time) }
    }

    /// The upstream ended stream `id` with END_STREAM after a final response (at `time`). Ended
    /// before the DATA its content-length announced, the response is not complete: its client
    /// got a cut body.
    mutating func complete(_ id: UInt32, at time: Timestamp) {
        let stream = self.streams[id]!
        let bodyless = stream.request?.isHEAD == true || stream.finalStatus == 204 || stream.finalStatus == 304
        let short = !bodyless && !stream.bodyUnchecked && stream.contentLength.map { stream.dataReceived < $0 } == true
        self.streams[id]!.upstreamClosed = true
        self.streams[id]!.response?.complete = !short
        if short { self.streams[id]!.ended = time }
        self.responsesCompleted += 1
        self.retire(id)
    }

    /// The open stream `id` that a frame of the upstream's is on, or nil when the frame is not to
    /// be judged: `h2.stream.closed` when the stream is closed (or was never opened), nothing
    /// when the gateway reset it or it already broke.
    mutating func judgedStream(_ id: UInt32, reader: Reader, frame: String) -> H2Stream? {
        guard let stream = self.streams[id] else {
            if self.deadStreams.contains(id) || self.gatewayFramingLost { return nil }
            let why = id <= self.highestStream && id & 1 == 1
                ? "which the upstream had already closed" : "which the gateway never opened"
            self.report(
                .h2StreamClosed, reader: reader, streamID: id,
                note: "a \(frame) frame on stream \(id), \(why) (RFC 9113 §5.1)", value: String(id))
            return nil
        }
        guard !stream.gatewayReset, !stream.broken, !stream.upstreamClosed else { return nil }
        return stream
    }
}
