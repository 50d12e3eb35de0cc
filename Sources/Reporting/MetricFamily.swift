/// One metric of the Prometheus text exposition format: its name, HELP text, TYPE, and samples.
public struct MetricFamily: Hashable, Sendable {
    /// The TYPE line's word. Only the two kinds edgescope exports.
    public enum Kind: String, Hashable, Sendable {
        /// Only goes up (a restart starts it again from 0). The name ends in `_total`.
        case counter
        /// Goes up and down.
        case gauge
    }

    /// One label of a sample: `name="value"`.
    public struct Label: Hashable, Sendable {
        /// `[a-zA-Z_][a-zA-Z0-9_]*`.
        public var name: String
        /// Any text; escaped when written.
        public var value: String

        /// A label from its parts.
        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    /// One line of the family: labels and a value.
    public struct Sample: Hashable, Sendable {
        /// In the order they are written; every sample of a family has the same names.
        public var labels: [Label]
        /// The value (Prometheus keeps every value as a float64).
        public var value: Double

        /// A sample from its parts.
        public init(labels: [Label] = [], value: Double) {
            self.labels = labels
            self.value = value
        }
    }

    /// `[a-zA-Z_:][a-zA-Z0-9_:]*`; a counter's ends in `_total`.
    public var name: String
    /// One line for a person reading the metric; escaped when written.
    public var help: String
    /// Counter or gauge.
    public var kind: Kind
    /// The family's samples, in any order (they are sorted when written).
    public var samples: [Sample]

    /// A family from its parts.
    public init(name: String, help: String, kind: Kind, samples: [Sample]) {
        self.name = name
        self.help = help
        self.kind = kind
        self.samples = samples
    }
}
