/// A stable, dotted name for something edgescope found (`http.chunked.bad_size`): a case of the
/// vocabulary (`RootCause`), and for a family such as `tls.alert.<description>`, the member.
///
/// Codes are a contract with scripts and dashboards: they are added, never renamed. The full
/// list is `RootCause` (`edgescope codes`, `docs/root-causes.md`); byte-level rules are in
/// `docs/gateway-taxonomy.md`.
public struct FindingCode: Hashable, Sendable, CustomStringConvertible, Comparable {
    /// The vocabulary's case.
    public let cause: RootCause
    /// For a family code, the member after the family's prefix (`handshake_failure` in
    /// `tls.alert.handshake_failure`); `nil` for a single code.
    public let qualifier: String?
    /// The dotted code as it appears in reports.
    public let description: String

    /// The code of a single (non-family) case.
    public init(_ cause: RootCause) {
        precondition(cause.familyPrefix == nil, "a family code needs its member: FindingCode(\(cause), qualifier:)")
        self.cause = cause
        self.qualifier = nil
        self.description = cause.entry.code
    }

    /// A member of a family: `FindingCode(.tlsAlert, qualifier: "handshake_failure")`.
    public init(_ cause: RootCause, qualifier: String) {
        self.cause = cause
        if let prefix = cause.familyPrefix {
            self.qualifier = qualifier
            self.description = prefix + qualifier
        } else {
            self.qualifier = nil
            self.description = cause.entry.code
        }
    }

    /// Reads a dotted code back (a saved report, a command-line value); `nil` when the
    /// vocabulary has no such code.
    public init?(code: String) {
        if let cause = RootCause.byCode[code] {
            self.init(cause)
            return
        }
        for cause in RootCause.allCases {
            guard let prefix = cause.familyPrefix, code.hasPrefix(prefix), code.count > prefix.count else { continue }
            self.init(cause, qualifier: String(code.dropFirst(prefix.count)))
            return
        }
        return nil
    }

    public static func < (lhs: FindingCode, rhs: FindingCode) -> Bool {
        lhs.description < rhs.description
    }

    public static func == (lhs: FindingCode, rhs: FindingCode) -> Bool {
        lhs.cause == rhs.cause && lhs.qualifier == rhs.qualifier
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.cause)
        hasher.combine(self.qualifier)
    }
}

// Every single code by the name code reads best with. Stable: never renamed.
extension FindingCode {
    public static let none = FindingCode(.none)

    public static let tcpConnectRefused = FindingCode(.tcpConnectRefused)
    public static let tcpConnectTimeout = FindingCode(.tcpConnectTimeout)
    public static let tcpConnectUnreachable = FindingCode(.tcpConnectUnreachable)
    public static let tcpConnectProhibited = FindingCode(.tcpConnectProhibited)
    public static let tcpRSTBeforeResponse = FindingCode(.tcpRSTBeforeResponse)
    public static let tcpFINBeforeResponse = FindingCode(.tcpFINBeforeResponse)
    public static let tcpFINMidHeaders = FindingCode(.tcpFINMidHeaders)
    public static let tcpFINMidBody = FindingCode(.tcpFINMidBody)
    public static let tcpRSTMidBody = FindingCode(.tcpRSTMidBody)
    public static let tcpKeepaliveRace = FindingCode(.tcpKeepaliveRace)
    public static let tcpReadTimeout = FindingCode(.tcpReadTimeout)
    public static let tcpSendTimeout = FindingCode(.tcpSendTimeout)
    public static let tcpMTUBlackhole = FindingCode(.tcpMTUBlackhole)

    public static let captureGap = FindingCode(.captureGap)
    public static let captureTruncated = FindingCode(.captureTruncated)
    public static let captureFileTruncated = FindingCode(.captureFileTruncated)
    public static let tcpOverlapMismatch = FindingCode(.tcpOverlapMismatch)
    public static let tcpIdleEvicted = FindingCode(.tcpIdleEvicted)
    public static let limitReassemblyBuffer = FindingCode(.limitReassemblyBuffer)
    public static let limitFlowTable = FindingCode(.limitFlowTable)
    public static let ipFragmented = FindingCode(.ipFragmented)
    public static let tcpICMPFragNeeded = FindingCode(.tcpICMPFragNeeded)

    public static let protoTLSToPlainPort = FindingCode(.protoTLSToPlainPort)
    public static let protoPlainToTLSPort = FindingCode(.protoPlainToTLSPort)
    public static let protoH2PrefaceToH1 = FindingCode(.protoH2PrefaceToH1)
    public static let protoH2ResponseToH1 = FindingCode(.protoH2ResponseToH1)
    public static let protoNonHTTPResponse = FindingCode(.protoNonHTTPResponse)
    public static let protoServerSpeaksFirst = FindingCode(.protoServerSpeaksFirst)
    public static let protoProxyHeaderUnexpected = FindingCode(.protoProxyHeaderUnexpected)
    public static let protoProxyHeaderMissing = FindingCode(.protoProxyHeaderMissing)
    public static let protoH1ResponseToH2 = FindingCode(.protoH1ResponseToH2)
    public static let tlsALPNNoH2 = FindingCode(.tlsALPNNoH2)

    public static let h2RSTStreamBeforeResponse = FindingCode(.h2RSTStreamBeforeResponse)
    public static let h2Goaway = FindingCode(.h2Goaway)
    public static let h2FrameTooLarge = FindingCode(.h2FrameTooLarge)
    public static let h2HPACKBadIndex = FindingCode(.h2HPACKBadIndex)
    public static let h2HPACKError = FindingCode(.h2HPACKError)
    public static let h2StatusMissing = FindingCode(.h2StatusMissing)
    public static let h2StatusDuplicate = FindingCode(.h2StatusDuplicate)
    public static let h2StatusInvalid = FindingCode(.h2StatusInvalid)
    public static let h2HeaderRequestPseudo = FindingCode(.h2HeaderRequestPseudo)
    public static let h2HeaderUppercase = FindingCode(.h2HeaderUppercase)
    public static let h2HeaderConnectionSpecific = FindingCode(.h2HeaderConnectionSpecific)
    public static let h2ContentLengthMismatch = FindingCode(.h2ContentLengthMismatch)
    public static let h2StreamClosed = FindingCode(.h2StreamClosed)
    public static let h2TrailersNoEndStream = FindingCode(.h2TrailersNoEndStream)
    public static let h2SettingsBadStream = FindingCode(.h2SettingsBadStream)
    public static let h2FlowControl = FindingCode(.h2FlowControl)
    public static let h2PrefaceBad = FindingCode(.h2PrefaceBad)
    public static let h2FrameSizeError = FindingCode(.h2FrameSizeError)
    public static let h2PushPromiseUnexpected = FindingCode(.h2PushPromiseUnexpected)
    /// `grpc.status.<name>`, the name as gRPC's status code, lowercase (`unavailable`).
    public static func grpcStatus(named name: String) -> FindingCode {
        FindingCode(.grpcStatus, qualifier: name)
    }
    public static let protoHTTPResponseToFCGI = FindingCode(.protoHTTPResponseToFCGI)

    public static let statusLineBadVersion = FindingCode(.statusLineBadVersion)
    public static let statusLineBadCode = FindingCode(.statusLineBadCode)
    public static let statusLineNoReasonSP = FindingCode(.statusLineNoReasonSP)
    public static let lineBareLF = FindingCode(.lineBareLF)
    public static let lineBareCR = FindingCode(.lineBareCR)

    public static let headerNameCTLOrSpace = FindingCode(.headerNameCTLOrSpace)
    public static let headerNameNonToken = FindingCode(.headerNameNonToken)
    public static let headerEmptyName = FindingCode(.headerEmptyName)
    public static let headerMissingColon = FindingCode(.headerMissingColon)
    public static let headerValueNUL = FindingCode(.headerValueNUL)
    public static let headerValueCTL = FindingCode(.headerValueCTL)
    public static let headerValueBareCR = FindingCode(.headerValueBareCR)
    public static let headerObsFold = FindingCode(.headerObsFold)
    public static let headerTooLarge = FindingCode(.headerTooLarge)
    public static let headerTooMany = FindingCode(.headerTooMany)
    public static let headerDuplicateSingleValue = FindingCode(.headerDuplicateSingleValue)

    public static let contentLengthInvalid = FindingCode(.contentLengthInvalid)
    public static let contentLengthDuplicate = FindingCode(.contentLengthDuplicate)
    public static let transferEncodingWithContentLength = FindingCode(.transferEncodingWithContentLength)
    public static let transferEncodingNotChunked = FindingCode(.transferEncodingNotChunked)
    public static let transferEncodingDuplicateOrEmpty = FindingCode(.transferEncodingDuplicateOrEmpty)
    public static let chunkedBadSize = FindingCode(.chunkedBadSize)
    public static let chunkedSizeOverflow = FindingCode(.chunkedSizeOverflow)
    public static let chunkedWhitespaceAfterSize = FindingCode(.chunkedWhitespaceAfterSize)
    public static let chunkedBadExtension = FindingCode(.chunkedBadExtension)
    public static let chunkedBareLF = FindingCode(.chunkedBareLF)
    public static let chunkedDataLengthMismatch = FindingCode(.chunkedDataLengthMismatch)
    public static let chunkedBadTrailer = FindingCode(.chunkedBadTrailer)
    public static let bodyExtraAfterMessage = FindingCode(.bodyExtraAfterMessage)
    public static let bodyOnBodyless = FindingCode(.bodyOnBodyless)

    public static let upstream5xx = FindingCode(.upstream5xx)

    public static let gatewayNoLiveUpstreams = FindingCode(.gatewayNoLiveUpstreams)

    /// `tls.alert.<description>`, the description as RFC 8446 §6 spells it (`handshake_failure`).
    public static func tlsAlert(named description: String) -> FindingCode {
        FindingCode(.tlsAlert, qualifier: description)
    }
    public static let tlsSNIMissing = FindingCode(.tlsSNIMissing)
    public static let tlsVersionMismatch = FindingCode(.tlsVersionMismatch)
    public static let tlsCipherMismatch = FindingCode(.tlsCipherMismatch)
    public static let tlsPeerClosedInHandshake = FindingCode(.tlsPeerClosedInHandshake)
    public static let tlsHandshakeTimeout = FindingCode(.tlsHandshakeTimeout)
    public static let tlsClientCertRequired = FindingCode(.tlsClientCertRequired)
    public static let tlsEarlyDataUnreadable = FindingCode(.tlsEarlyDataUnreadable)
    public static let tlsClosedAfterHandshake = FindingCode(.tlsClosedAfterHandshake)
    public static let tlsCertExpired = FindingCode(.tlsCertExpired)
    public static let tlsCertNotYetValid = FindingCode(.tlsCertNotYetValid)
    public static let tlsCertUnknownCA = FindingCode(.tlsCertUnknownCA)
    public static let tlsCertMissingIntermediate = FindingCode(.tlsCertMissingIntermediate)
    public static let tlsCertSelfSigned = FindingCode(.tlsCertSelfSigned)
    public static let tlsCertNameMismatch = FindingCode(.tlsCertNameMismatch)
    public static let tlsCertRevoked = FindingCode(.tlsCertRevoked)
    public static let tlsCertBadPurpose = FindingCode(.tlsCertBadPurpose)
    public static let tlsCertInvalid = FindingCode(.tlsCertInvalid)
    public static let tlsMalformed = FindingCode(.tlsMalformed)

    public static let fcgiStderrFatal = FindingCode(.fcgiStderrFatal)
    public static let fcgiStderrWarning = FindingCode(.fcgiStderrWarning)
    public static let fcgiStatusInvalid = FindingCode(.fcgiStatusInvalid)
    public static let fcgiEndRequestOverloaded = FindingCode(.fcgiEndRequestOverloaded)
    public static let fcgiEndRequestCantMpxConn = FindingCode(.fcgiEndRequestCantMpxConn)
    public static let fcgiEndRequestBeforeStdout = FindingCode(.fcgiEndRequestBeforeStdout)
    public static let fcgiEndRequestUnknownRole = FindingCode(.fcgiEndRequestUnknownRole)
    public static let fcgiRecordBadVersion = FindingCode(.fcgiRecordBadVersion)
    public static let fcgiRecordTruncated = FindingCode(.fcgiRecordTruncated)
    public static let fcgiRecordUnexpected = FindingCode(.fcgiRecordUnexpected)
    public static let fcgiPoolExhausted = FindingCode(.fcgiPoolExhausted)

    public static let dnsNXDOMAIN = FindingCode(.dnsNXDOMAIN)
    public static let dnsSERVFAIL = FindingCode(.dnsSERVFAIL)
    public static let dnsREFUSED = FindingCode(.dnsREFUSED)
    public static let dnsTimeout = FindingCode(.dnsTimeout)
    public static let dnsDrift = FindingCode(.dnsDrift)
}
