import Reporting
import Testing

/// What a merged report calls each source: `--label`, the report's own host, the directory.
struct ReportMergeLabelTests {
    @Test func labelsComeFromTheOptionTheHostOrTheDirectory() throws {
        let plain = try JSONValue(parsing: #"{"schema": "edgescope.report/1"}"#)
        let hosted = try JSONValue(parsing: #"{"schema": "edgescope.report/1", "capture": {"host": "edge-7"}}"#)
        let labels = ReportMerge.labels(
            paths: ["gw-a/report.json", "/srv/reports/gw-a/report.json", "report.json", "./x/./report.json", "b/report.json", "c/report.json"],
            documents: [plain, plain, plain, plain, hosted, plain], given: [])
        #expect(labels == ["gw-a", "gw-a (2)", "report.json", "x", "edge-7", "c"])
        let given = ReportMerge.labels(paths: ["a/report.json", "b/report.json"], documents: [plain, plain], given: ["same", "same"])
        #expect(given == ["same", "same (2)"])
    }
}
