import Reporting
import Testing

@Suite struct PrometheusTextTests {
    @Test(arguments: [
        (#"plain"#, #"plain"#),
        (#"a"b"#, #"a\"b"#),
        (#"C:\edge"#, #"C:\\edge"#),
        ("two\nlines", #"two\nlines"#),
        // An escaped backslash before a quote stays two escapes, not an escaped quote.
        (#"\""#, #"\\\""#),
        // An attempt to end the label set and add a sample of its own.
        ("x\"} 1\nedgescope_evil 1", #"x\"} 1\nedgescope_evil 1"#),
        // Carriage returns, tabs and non-ASCII are plain UTF-8 in the format: left alone.
        ("eth0\r\t é ☃ 日本", "eth0\r\t é ☃ 日本"),
    ])
    func labelValuesEscapeBackslashQuoteAndNewline(value: String, escaped: String) {
        #expect(PrometheusText.escapeLabelValue(value) == escaped)
    }

    @Test func helpEscapesBackslashAndNewlineButNotQuotes() {
        #expect(PrometheusText.escapeHelp("say \"hi\"\\\nagain") == #"say "hi"\\\nagain"#)
    }

    @Test(arguments: [
        (0.0, "0"), (-0.0, "0"), (42.0, "42"), (-3.0, "-3"), (0.25, "0.25"), (1_776_075_462.5, "1776075462.5"),
        (4_294_967_295.0, "4294967295"), (9_007_199_254_740_991.0, "9007199254740991"), (1e20, "1e+20"), (1.5e-7, "1.5e-07"),
        (Double.infinity, "+Inf"), (-Double.infinity, "-Inf"), (Double.nan, "NaN"),
    ])
    func numbersAreWhatPrometheusParses(value: Double, text: String) {
        #expect(PrometheusText.format(value) == text)
    }

    @Test func familiesAndSamplesAreSortedAndHostileValuesStayInTheirLabel() {
        let families = [
            MetricFamily(name: "b_total", help: "B.", kind: .counter, samples: [
                MetricFamily.Sample(labels: [MetricFamily.Label("k", "z")], value: 1),
                MetricFamily.Sample(labels: [MetricFamily.Label("k", "x\"} 1\nb_total 99")], value: 2),
                MetricFamily.Sample(labels: [MetricFamily.Label("k", "é")], value: 3),
                MetricFamily.Sample(labels: [MetricFamily.Label("k", "a")], value: 4),
            ]),
            MetricFamily(name: "a", help: "Line one\nline two \\ end.", kind: .gauge, samples: [MetricFamily.Sample(value: 0.5)]),
            MetricFamily(name: "c_total", help: "Nothing yet.", kind: .counter, samples: []),
        ]
        #expect(PrometheusText.encode(families) == #"""
            # HELP a Line one\nline two \\ end.
            # TYPE a gauge
            a 0.5
            # HELP b_total B.
            # TYPE b_total counter
            b_total{k="a"} 4
            b_total{k="x\"} 1\nb_total 99"} 2
            b_total{k="z"} 1
            b_total{k="é"} 3
            # HELP c_total Nothing yet.
            # TYPE c_total counter

            """#)
    }
}
