import Reporting
import Testing

@Suite struct ReportDocumentBuilderTests {
    /// Failures arriving out of id order, far past the cap: the builder keeps exactly the worst
    /// `failuresKept` by (rank, id), and for each cause the worst connection, although past the
    /// cap it no longer makes an entry for a failure that cannot be kept.
    @Test func keepsTheWorstFailuresByRankThenIdPastTheCap() {
        let classes = ["502", "truncated", "unknown", "relayed", "503", "504", "ok"]
        var state: UInt64 = 0x9e37_79b9_7f4a_7c15
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        var numbers = Array(1...4000)
        for index in numbers.indices.reversed() { numbers.swapAt(index, next(index + 1)) }
        var builder = ReportDocument.Builder()
        var expected: [(rank: Int, id: Int)] = []
        var examples: [String: (rank: Int, id: Int)] = [:]
        for number in numbers {
            // Gateway errors are rare and arrive late, so the kept set changes after the cap is reached.
            let verdictClass = number > 3000 ? classes[number % 3 == 0 ? 0 : 3] : classes[next(classes.count)]
            let code = "code.\(number % 7)"
            builder.add(SyntheticReport.connection(number, server: "10.0.3.1:80", verdictClass: verdictClass, code: code, text: "t", heavy: false))
            guard verdictClass != "ok" else { continue }
            let rank = ReportDocument.rank(ofClass: verdictClass)
            expected.append((rank, number))
            if let known = examples[code], (known.rank, known.id) <= (rank, number) {} else { examples[code] = (rank, number) }
        }
        let head = JSONValue.object([("schema", .string(JSONReport.schema))])
        let document = try? ReportDocument(head: head, builder: builder)
        let kept = expected.sorted { ($0.rank, $0.id) < ($1.rank, $1.id) }.prefix(ReportDocument.Builder.failuresKept)
        #expect(document?.failures.map { $0["id"].string ?? "?" } == kept.map { "c\($0.id)" })
        #expect(document?.timeline.count == 4000)
        for (code, example) in examples {
            #expect(document?.example(of: code)?["id"].string == "c\(example.id)")
        }
    }
}
