import CaptureModel
import Engine
import Foundation
import Testing
import TestSupport

@testable import Diagnosis

/// Mechanical rules a verdict's summary sentence must follow to read as English (issue 13, item 9).
enum Grammar {
    /// Every rule `sentence` breaks, each as a short reason.
    static func problems(in sentence: String) -> [String] {
        var problems: [String] = []
        if let first = sentence.first, !(first.isLetter && first.isUppercase) { problems.append("does not start with a capital") }
        if !sentence.hasSuffix(".") { problems.append("does not end with a period") }
        if sentence.contains("(s)") { problems.append("\"(s)\" where the count is known") }
        for spaced in [" .", " ;", " ,", " :", "  "] where sentence.contains(spaced) { problems.append("\"\(spaced)\"") }

        let words = sentence.split(separator: " ").map(String.init)
        for (index, word) in words.enumerated() where index + 1 < words.count {
            let next = words[index + 1].trimmingCharacters(in: CharacterSet(charactersIn: "(\"'`"))
            let plain = word.trimmingCharacters(in: CharacterSet(charactersIn: "(\"'`")).lowercased()
            if plain == "a", self.vowelSound(next) { problems.append("\"a \(next)\"") }
            if plain == "an", !self.vowelSound(next) { problems.append("\"an \(next)\"") }
            // "the the", "sent sent": the same word twice with nothing between.
            let following = words[index + 1]
            if word.lowercased() == following.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: ".,;:")),
               word.last?.isLetter == true, Int(word) == nil {
                problems.append("doubled \"\(word)\"")
            }
        }

        // "The upstream ADDR sent X at byte N": X is a noun phrase, not a sentence of its own.
        if sentence.hasPrefix("The upstream "), let sent = sentence.range(of: " sent "),
           !sentence[sentence.index(sentence.startIndex, offsetBy: 13)..<sent.lowerBound].contains(" ") {
            let rest = sentence[sent.upperBound...]
            let end = rest.range(of: " at byte ")?.lowerBound ?? rest.range(of: "; ")?.lowerBound ?? rest.endIndex
            let object = self.outsideParentheses(String(rest[..<end]))
            if object.contains(": ") || object.contains("; ") { problems.append("the object of \"sent\" holds a clause: \(object)") }
            if object.hasPrefix("the upstream ") || object.hasPrefix("the gateway ") {
                problems.append("the object of \"sent\" starts a sentence: \(object)")
            }
            let objectWords = object.split(separator: " ").map { $0.trimmingCharacters(in: .punctuationCharacters).lowercased() }
            let finite: Set = ["must", "should", "is", "are", "was", "does", "has", "continues", "answered", "speaks", "runs"]
            let relative: Set = ["that", "which", "who", "it"]
            for (index, word) in objectWords.enumerated() where finite.contains(word) {
                if index == 0 || !relative.contains(objectWords[index - 1]) {
                    problems.append("the object of \"sent\" has a verb of its own (\"\(word)\"): \(object)")
                }
            }
        }
        return problems
    }

    /// Whether `word`, read aloud, starts with a vowel sound.
    static func vowelSound(_ word: String) -> Bool {
        guard let first = word.first else { return false }
        if first.isNumber {
            // eight..., eleven, eighteen (and their thousands)
            let digits = word.prefix { $0.isNumber }
            return first == "8" || ((digits.hasPrefix("11") || digits.hasPrefix("18")) && digits.count % 3 == 2)
        }
        if first.isUppercase, word.count > 1, word.dropFirst().first?.isUppercase == true {
            // An initialism, read letter by letter: an HTTP, an RST, a TLS.
            return "AEFHILMNORSX".contains(first)
        }
        let lower = word.lowercased()
        if ["use", "usu", "uni", "uti"].contains(where: { lower.hasPrefix($0) }) { return false }
        return "aeiou".contains(lower.first!)
    }

    /// `text` without its parenthesised asides.
    static func outsideParentheses(_ text: String) -> String {
        var depth = 0
        var kept = ""
        for character in text {
            if character == "(" { depth += 1 } else if character == ")" { depth = max(0, depth - 1) } else if depth == 0 { kept.append(character) }
        }
        return kept
    }
}

@Test func grammarRulesCatchTheSentencesOfIssue13() {
    #expect(!Grammar.problems(in: "The upstream 10.0.0.1:80 sent a chunk size must start with a hex digit at byte 3 of its stream (frame 4); nginx answers 502.").isEmpty)
    #expect(!Grammar.problems(in: "The upstream 10.0.0.1:80 sent Content-Length must be 1*DIGIT (RFC 9110 §8.6) at byte 3 of its stream (frame 4); nginx answers 502.").isEmpty)
    #expect(!Grammar.problems(in: "The gateway ended the handshake with a unknown_ca alert.").isEmpty)
    #expect(!Grammar.problems(in: "The upstream closed the connection after 27 byte(s) of a response head.").isEmpty)
    #expect(!Grammar.problems(in: "the upstream closed the the connection").isEmpty)
    #expect(Grammar.problems(in: "The upstream 10.0.0.1:80 sent a chunk size that does not start with a hex digit (RFC 9112 §7.1: chunk-size = 1*HEXDIG) at byte 3 of its stream (frame 4); nginx answers 502.") == [])
    #expect(Grammar.problems(in: "The upstream relays an HTTP/0.9 body and a TLS alert, an 8548-byte head, a 100-byte head, a user_canceled alert.") == [])
}

@Test(arguments: [
    ("unknown_ca", "an"), ("user_canceled", "a"), ("handshake_failure", "a"), ("internal_error", "an"), ("access_denied", "an"),
    ("8548", "an"), ("11", "an"), ("18000", "an"), ("110", "a"), ("100", "a"), ("chunked", "a"), ("content-length", "a"),
])
func summariesPickTheArticleBySound(word: String, article: String) {
    #expect(Summaries.article(for: word) == article)
}

/// Every reaction a gateway model can have, for building a finding's summary each way.
private let everyReaction: [GatewayReaction] = [
    GatewayReaction(kind: .rejects, status: 502, detail: ""), GatewayReaction(kind: .rejects, status: nil, detail: ""),
    GatewayReaction(kind: .accepts, status: nil, detail: ""), GatewayReaction(kind: .passesAsHTTP09, status: 200, detail: ""),
    GatewayReaction(kind: .retries, status: nil, detail: ""), GatewayReaction(kind: .closesSilently, status: nil, detail: ""),
]

/// Summaries of every connection of `result`, and of each of its HTTP findings as a root cause
/// (every note the parsers wrote, each way a gateway can react). Returns the codes covered.
private func checkSummaries(_ result: AnalysisResult, source: String, profile: GatewayProfile) -> Set<String> {
    var covered: Set<String> = []
    for connection in result.connections {
        covered.insert(connection.verdict.code.description)
        let problems = Grammar.problems(in: connection.verdict.summary)
        #expect(problems.isEmpty, "\(source) \(connection.name) \(connection.verdict.code): \(connection.verdict.summary) — \(problems)")
        for finding in connection.findings where finding.evidence.first?.direction == .server {
            let name = finding.code.description
            guard name.hasPrefix("http.") || name.hasPrefix("proto.") else { continue }
            covered.insert(name)
            for reaction in everyReaction {
                for refusedBy: [any GatewayModel] in [[], [HAProxyModel()], [HAProxyModel(), EnvoyModel()], [NginxModel(), HAProxyModel(), EnvoyModel()]] {
                    let sentence = Summaries.finding(finding, server: connection.server, reaction: reaction, profile: profile, refusedBy: refusedBy)
                    let problems = Grammar.problems(in: sentence)
                    #expect(problems.isEmpty, "\(source) \(connection.name) \(name): \(sentence) — \(problems)")
                }
            }
        }
    }
    return covered
}

/// Connections for the codes the bundled captures do not end on, built frame by frame.
private func syntheticResults() throws -> [(String, AnalysisResult)] {
    var results: [(String, AnalysisResult)] = []
    let get = "GET /v1/report HTTP/1.1\r\nHost: api\r\n\r\n"

    var gap = Conversation()  // capture.gap: the upstream's first 10 bytes never captured
    gap.request(get)
    gap.serverNext &+= 10
    gap.response("Content-Length: 0\r\n\r\n")
    gap.gatewayCloses()
    results.append(("gap", gap.h.engine.finish()))

    var cut = Conversation()  // capture.truncated: the capture ends before any response byte
    cut.request(get)
    results.append(("capture ends", cut.h.engine.finish()))

    var preface = Conversation()  // proto.h1_response_to_h2
    preface.request("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
    preface.response("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    preface.serverCloses()
    results.append(("h2 preface", preface.h.engine.finish()))

    var refusedHandshake = Conversation()  // tls.alert.handshake_failure after a ServerHello
    refusedHandshake.clientBytes(TLSWire.record(22, TLSWire.clientHello(sni: "upstream.test")))
    refusedHandshake.serverBytes(TLSWire.record(22, TLSWire.serverHello()))
    refusedHandshake.serverBytes(TLSWire.record(21, [2, 40]))
    refusedHandshake.serverCloses()
    results.append(("handshake_failure", refusedHandshake.h.engine.finish()))

    var gatewayAlert = Conversation()  // tls.alert.protocol_version, sent by the gateway
    gatewayAlert.clientBytes(TLSWire.record(22, TLSWire.clientHello(sni: "upstream.test")))
    gatewayAlert.serverBytes(TLSWire.record(22, TLSWire.serverHello()))
    gatewayAlert.clientBytes(TLSWire.record(21, [2, 70]))
    gatewayAlert.gatewayCloses()
    results.append(("gateway alert", gatewayAlert.h.engine.finish()))
    return results
}

/// Codes no diagnosis produces today: nothing to phrase. A code that starts being produced must
/// leave this list, so its sentence gets checked.
private let codesWithoutASentence: Set = [
    "tcp.send_timeout",
    // Only ever beside another root cause (a warning on a TLS connection), never a verdict of its own.
    "tls.sni.missing",
    // The older name of proto.h1_response_to_h2 (an HTTP/1 answer to the HTTP/2 preface), which the probe raises instead.
    "proto.h2_preface_to_h1",
]

@Test func everySummarySentenceReadsAsEnglishForEveryCode() throws {
    var covered: Set<String> = []
    for truthFile in truthFiles() {
        let data = try Data(contentsOf: URL(fileURLWithPath: Paths.captures + "/" + truthFile))
        let truth = try JSONDecoder().decode(Truth.self, from: data)
        let base = try truth.options()
        // The profile the capture's gateway used, then every model's newest behaviour.
        for profile in [base.gateway] + Gateways.all.map({ GatewayProfile(model: $0) }) {
            var options = base
            options.gateway = profile
            let result = try analyse(capturePath(truthFile: truthFile, capture: truth.capture), options: options)
            covered.formUnion(checkSummaries(result, source: "\(truth.capture) (\(profile))", profile: profile))
        }
    }
    for (name, result) in try syntheticResults() {
        for model in Gateways.all {
            covered.formUnion(checkSummaries(result, source: name, profile: GatewayProfile(model: model)))
        }
    }
    #expect(Grammar.problems(in: Verdict.healthy.summary) == [])
    let missing = Set(designCodes).subtracting(covered)
    #expect(missing == codesWithoutASentence, "codes with no sentence checked: \(missing.sorted())")
}

@Test func acceptedBytesNameTheGatewaysThatRefuseThem() throws {
    var folded = Conversation(gateway: "haproxy")
    folded.request("GET /v1/report HTTP/1.1\r\nHost: api\r\n\r\n")
    folded.response("HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n")
    folded.gatewayCloses()
    let fold = try folded.verdict()
    #expect(fold.verdict.code == .headerObsFold)
    #expect(fold.verdict.summary.hasSuffix("at byte 25 of its stream (frame 5); haproxy lets it through, but nginx and envoy do not."))

    // Bytes after a complete response: every gateway lets them through (a hazard, not a refusal).
    var extra = Conversation(gateway: "nginx")
    extra.request("GET /v1/report HTTP/1.1\r\nHost: api\r\n\r\n")
    extra.response("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nsurplus")
    extra.gatewayCloses()
    let surplus = try extra.verdict()
    #expect(surplus.verdict.code == .bodyExtraAfterMessage)
    #expect(surplus.verdict.summary.hasSuffix("sent 7 bytes after a complete response, with no request outstanding at byte 38 of its stream (frame 5); nginx lets it through, as the other gateways do."))
}
