import CaptureModel
import HTTP1
import NIOCore
import NIOHPACK

// Header blocks (RFC 9113 §4.3, §6.2, §6.6, §6.10), HPACK (RFC 7541) and the rules of §8.
extension HTTP2Connection {
    /// A HEADERS, PUSH_PROMISE or CONTINUATION frame's payload is in `reader.payload`.
    mutating func headerBlockFrame(_ reader: inout Reader) {
        var from = 0
        var to = reader.payload.count
        if reader.type != HTTP2Wire.continuation {
            // §6.2, §6.6: padding, then (HEADERS) a priority block or (PUSH_PROMISE) the promised stream.
            if reader.flags & HTTP2Wire.padded != 0 {
                guard to >= 1 else { return self.malformedBlock(&reader, "a padded frame with no pad length") }
                to -= Int(reader.payload[0])
                from = 1
            }
            if reader.type == HTTP2Wire.headers, reader.flags & HTTP2Wire.priorityFlag != 0 { from += 5 }
            if reader.type == HTTP2Wire.pushPromise { from += 4 }
            guard from <= to else { return self.malformedBlock(&reader, "padding longer than the frame's payload") }
            reader.blockOpen = true
            reader.blockStream = reader.stream
            reader.blockStart = reader.start
            reader.blockFirstLength = reader.length
            reader.blockEndStream = reader.type == HTTP2Wire.headers && reader.flags & HTTP2Wire.endStream != 0
            reader.blockIsPush = reader.type == HTTP2Wire.pushPromise
            reader.blockEvidence = reader.headerBytes + reader.payload.prefix(55)
            reader.block.removeAll(keepingCapacity: true)
        } else if !reader.blockOpen {
            return
        }
        reader.block.append(contentsOf: reader.payload[from..<to])
        guard reader.flags & HTTP2Wire.endHeaders != 0 else { return }
        reader.blockOpen = false
        self.decodeBlock(&reader)
    }

    private mutating func malformedBlock(_ reader: inout Reader, _ what: String) {
        reader.hpackLost = true
        guard reader.direction == .server else { return }
        self.report(
            .h2HPACKError, reader: reader, streamID: reader.stream,
            note: "\(what) in a \(HTTP2Wire.typeName(reader.type)) frame (RFC 9113 §6.1)", value: nil)
    }

    /// Evidence for the header block just decoded: its first frame.
    private func blockEvidence(_ reader: Reader, note: String) -> Evidence {
        Evidence(
            direction: reader.direction, streamOffset: reader.blockStart.offset, frame: reader.blockStart.frame,
            frameOffset: reader.blockStart.frameOffset, length: UInt64(HTTP2Wire.frameHeaderLength + reader.blockFirstLength),
            bytes: reader.blockEvidence, context: reader.blockEvidence, contextOffset: reader.blockStart.offset, note: note,
            streamID: reader.blockStream == 0 ? nil : reader.blockStream)
    }

    private mutating func decodeBlock(_ reader: inout Reader) {
        let id = reader.blockStream
        if reader.hpackLost {
            // Not decodable: only what the frame flags say is kept.
            if reader.direction == .server, reader.blockEndStream, let stream = self.streams[id], !stream.upstreamClosed {
                self.streams[id]!.upstreamClosed = true
                self.retire(id)
            } else if reader.direction == .server, self.streams[id] != nil {
                self.streams[id]!.headUnknown = true
            } else if reader.direction == .client {
                self.openStream(id, request: nil, reader: reader)
            }
            return
        }
        if reader.decoder == nil {
            // The upstream encodes against the table size the gateway advertised (nginx: 0).
            // At most 1 MiB: no gateway advertises more (nginx 0, HAProxy and Envoy 4096), and
            // NIOHPACK reserves room for the table's entries up front (found by FuzzHTTP2).
            let size = min(reader.direction == .server ? self.gatewayHeaderTableSize : self.gatewayTableSize, Self.largestHeaderTable)
            reader.decoder = HPACKDecoder(allocator: ByteBufferAllocator(), maxDynamicTableSize: size, maxHeaderListSize: 1 << 24)
        }
        var buffer = ByteBuffer(bytes: reader.block)
        let headers: HPACKHeaders
        do {
            headers = try reader.decoder!.decodeHeaders(from: &buffer)
        } catch let error as NIOHPACKErrors.InvalidHeaderIndex {
            reader.hpackLost = true
            guard reader.direction == .server else { return }
            self.brokenBlock(
                .h2HPACKBadIndex, reader: reader, value: String(error.suppliedIndex),
                note: "a header block on stream \(id) that refers to HPACK index \(error.suppliedIndex), past the \(error.availableIndex) entries of the static and dynamic tables (the gateway advertised a table of \(self.gatewayHeaderTableSize) bytes) (RFC 7541 §2.3.3)")
            return
        } catch {
            reader.hpackLost = true
            guard reader.direction == .server else { return }
            self.brokenBlock(
                .h2HPACKError, reader: reader, value: String(describing: type(of: error)),
                note: "a header block on stream \(id) that does not decode (\(type(of: error))) (RFC 7541, RFC 9113 §4.3)")
            return
        }
        switch reader.direction {
        case .client:
            self.requestBlock(headers, reader: reader)
        case .server:
            guard !reader.blockIsPush else { return }  // decoded for the HPACK state only
            guard self.judgedBlockStream(id, reader: reader) else { return }
            if self.streams[id]!.finalStatus == nil {
                self.responseHead(headers, reader: reader)
            } else {
                self.trailers(headers, reader: reader)
            }
        }
    }

    private mutating func brokenBlock(_ code: FindingCode, reader: Reader, value: String?, note: String) {
        let id = reader.blockStream
        self.report(code, evidence: self.blockEvidence(reader, note: note), value: value)
        self.kill(id, at: reader.blockStart.time)
    }

    /// As `judgedStream`, for a header block whose first frame is the evidence.
    private mutating func judgedBlockStream(_ id: UInt32, reader: Reader) -> Bool {
        guard let stream = self.streams[id] else {
            if self.deadStreams.contains(id) || self.gatewayFramingLost { return false }
            let why = id <= self.highestStream && id & 1 == 1
                ? "which the upstream had already closed" : "which the gateway never opened"
            self.report(
                .h2StreamClosed, evidence: self.blockEvidence(reader, note: "a HEADERS frame on stream \(id), \(why) (RFC 9113 §5.1)"),
                value: String(id))
            return false
        }
        return !stream.gatewayReset && !stream.broken && !stream.upstreamClosed
    }

    // MARK: The gateway's requests

    private mutating func requestBlock(_ headers: HPACKHeaders, reader: Reader) {
        let id = reader.blockStream
        guard id != 0 else { return }
        if self.streams[id] != nil || id <= self.highestStream {
            // Trailers of a request.
            if reader.blockEndStream { self.streams[id]?.gatewayEnded = true }
            return
        }
        var method = "", path = "", authority: String?, requestID: String?, correlationID: String?, traceID: String?
        for (name, value, _) in headers {
            switch name {
            case ":method": method = value
            case ":path": path = value
            case ":authority": authority = value
            case "host" where authority == nil: authority = value
            case "x-request-id": requestID = value
            case "x-correlation-id": correlationID = value
            case "traceparent":
                let parts = value.split(separator: "-")
                if parts.count >= 2 { traceID = String(parts[1]) }
            default: break
            }
        }
        let request = RequestInfo(
            method: method, target: path, host: authority, requestID: requestID, correlationID: correlationID, traceID: traceID,
            offset: reader.blockStart.offset, frame: reader.blockStart.frame, time: reader.blockStart.time, upgrade: false)
        self.openStream(id, request: request, reader: reader)
    }

    private mutating func openStream(_ id: UInt32, request: RequestInfo?, reader: Reader) {
        guard id != 0, self.streams[id] == nil, id > self.highestStream else { return }
        self.highestStream = id
        self.requestsSeen += 1
        var stream = H2Stream(id: id, window: self.gatewayInitialWindow)
        stream.request = request
        stream.gatewayEnded = reader.blockEndStream
        self.streams[id] = stream
    }

    // MARK: The upstream's responses (RFC 9113 §8.3.2, §8.2)

    /// The largest HPACK dynamic table decoded (a larger advertised size is read as this).
    static let largestHeaderTable = 1 << 20

    /// RFC 9113 §8.2.2: fields that only mean something to one HTTP/1 connection.
    static let connectionSpecific: Set<String> = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"]

    /// Credentials are not copied into a finding's value.
    private static func shown(_ name: String, _ value: String) -> String {
        let lower = name.lowercased()
        let secret = ["authorization", "proxy-authorization", "cookie", "set-cookie"].contains(lower)
        return "\(name): \(secret ? "***" : value)"
    }

    private mutating func responseHead(_ headers: HPACKHeaders, reader: Reader) {
        let id = reader.blockStream
        var statuses = 0
        var status: String?
        var fatal: (FindingCode, String, String?)?
        var connectionSpecific: (String, String)?
        var contentLength: UInt64?
        var isGRPC = false
        var grpcStatus: String?
        var grpcMessage: String?
        for (name, value, _) in headers {
            if name.hasPrefix(":") {
                if name == ":status" {
                    statuses += 1
                    if statuses > 1 {
                        fatal = (.h2StatusDuplicate, "a second :status field (\(value)) in the response head of stream \(id) (RFC 9113 §8.3.2)", value)
                        break
                    }
                    status = value
                    guard value.utf8.count == 3, value.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                        fatal = (.h2StatusInvalid, "a :status of \"\(value)\" in the response head of stream \(id), not three digits (RFC 9113 §8.3.2)", value)
                        break
                    }
                } else {
                    fatal = (.h2HeaderRequestPseudo, "the pseudo-header \(name) in the response head of stream \(id), where only :status may be (RFC 9113 §8.3)", Self.shown(name, value))
                    break
                }
                continue
            }
            if statuses == 0 {
                fatal = (.h2StatusMissing, "a response head on stream \(id) whose first field is \(name), not :status (RFC 9113 §8.3.2)", nil)
                break
            }
            if name.utf8.contains(where: { $0 >= 0x41 && $0 <= 0x5a }) {
                fatal = (.h2HeaderUppercase, "the field name \"\(name)\" with uppercase letters in the response head of stream \(id) (RFC 9113 §8.2.1)", Self.shown(name, value))
                break
            }
            if connectionSpecific == nil, Self.connectionSpecific.contains(name) || (name == "te" && value != "trailers") {
                connectionSpecific = (name, value)
            }
            switch name {
            case "content-length":
                contentLength = UInt64(value)
            case "content-type":
                isGRPC = value == "application/grpc" || value.hasPrefix("application/grpc+") || value.hasPrefix("application/grpc;")
            case "grpc-status":
                grpcStatus = value
            case "grpc-message":
                grpcMessage = value
            default:
                break
            }
        }
        if fatal == nil, statuses == 0 {
            fatal = (.h2StatusMissing, "a response head on stream \(id) with no :status field (RFC 9113 §8.3.2)", nil)
        }
        if let (code, note, value) = fatal {
            self.brokenBlock(code, reader: reader, value: value, note: note)
            return
        }
        if let (name, value) = connectionSpecific {
            self.report(
                .h2HeaderConnectionSpecific,
                evidence: self.blockEvidence(reader, note: "the connection-specific field \(name) in the response head of stream \(id) (RFC 9113 §8.2.2)"),
                value: Self.shown(name, value))
        }
        let code = Int(status!)!
        var response = self.streams[id]!.response ?? ResponseInfo(
            status: nil, offset: reader.blockStart.offset, frame: reader.blockStart.frame, time: reader.blockStart.time,
            framing: .http2Frames, complete: false, interim: [])
        if (100...199).contains(code) {
            // §8.1: interim responses come before the final one, never with END_STREAM.
            response.interim.append(code)
            self.streams[id]!.response = response
            if reader.blockEndStream {
                self.streams[id]!.upstreamClosed = true
                self.retire(id)
            }
            return
        }
        response.status = code
        self.streams[id]!.response = response
        self.streams[id]!.finalStatus = code
        self.streams[id]!.contentLength = contentLength
        self.streams[id]!.isGRPC = isGRPC
        if (500...599).contains(code), self.upstream5xx == nil {
            self.upstream5xx = (code, self.blockEvidence(reader, note: "a :status of \(code) on stream \(id)"))
        }
        guard reader.blockEndStream else { return }
        // A trailers-only gRPC response carries its status in the head (gRPC's PROTOCOL-HTTP2.md).
        if isGRPC { self.grpcStatus(grpcStatus, message: grpcMessage, reader: reader) }
        self.endOfResponse(reader: reader)
    }

    private mutating func trailers(_ headers: HPACKHeaders, reader: Reader) {
        let id = reader.blockStream
        var grpcStatus: String?
        var grpcMessage: String?
        for (name, value, _) in headers {
            if name.hasPrefix(":") {
                self.brokenBlock(
                    .h2HeaderRequestPseudo, reader: reader, value: Self.shown(name, value),
                    note: "the pseudo-header \(name) in the trailers of stream \(id), where none may be (RFC 9113 §8.1)")
                return
            }
            if name.utf8.contains(where: { $0 >= 0x41 && $0 <= 0x5a }) {
                self.brokenBlock(
                    .h2HeaderUppercase, reader: reader, value: Self.shown(name, value),
                    note: "the field name \"\(name)\" with uppercase letters in the trailers of stream \(id) (RFC 9113 §8.2.1)")
                return
            }
            if name == "grpc-status" { grpcStatus = value }
            if name == "grpc-message" { grpcMessage = value }
        }
        guard reader.blockEndStream else {
            self.brokenBlock(
                .h2TrailersNoEndStream, reader: reader, value: nil,
                note: "a second HEADERS frame (trailers) on stream \(id) without END_STREAM (RFC 9113 §8.1)")
            return
        }
        if self.streams[id]!.isGRPC { self.grpcStatus(grpcStatus, message: grpcMessage, reader: reader) }
        self.endOfResponse(reader: reader)
    }

    /// gRPC's status in the trailers: a non-OK status is the service's own answer, relayed.
    private mutating func grpcStatus(_ status: String?, message: String?, reader: Reader) {
        guard let status, let number = Int(status), let name = HTTP2Wire.grpcStatusName(number) else { return }
        let id = reader.blockStream
        let said = message.map { ", grpc-message \"\($0)\"" } ?? ""
        self.streams[id]?.grpcStatus = number
        self.report(
            .grpcStatus(named: name),
            evidence: self.blockEvidence(reader, note: "grpc-status \(number) (\(name.uppercased())) on stream \(id)\(said)"),
            value: message ?? name)
    }

    /// END_STREAM on a header block that ends a final response: the length against its content-length.
    private mutating func endOfResponse(reader: Reader) {
        let id = reader.blockStream
        let stream = self.streams[id]!
        let bodyless = stream.request?.isHEAD == true || stream.finalStatus == 204 || stream.finalStatus == 304
        if let expected = stream.contentLength, !bodyless, !stream.bodyUnchecked, !stream.lengthReported, stream.dataReceived != expected {
            self.streams[id]!.lengthReported = true
            self.report(
                .h2ContentLengthMismatch,
                evidence: self.blockEvidence(reader, note: "END_STREAM on stream \(id) after \(stream.dataReceived) bytes of DATA where its content-length said \(expected) (RFC 9113 §8.1.1)"),
                value: "content-length \(expected), DATA \(stream.dataReceived)")
        }
        self.complete(id, at: reader.start.time)
    }
}
