import CaptureModel
import Testing

@Test(arguments: [
    (Int64(0), "1970-01-01T00:00:00.000000000Z"),
    (Int64(1_776_075_462_123_456_789), "2026-04-13T10:17:42.123456789Z"),
    (Int64(951_782_400) * 1_000_000_000, "2000-02-29T00:00:00.000000000Z"),
    (Int64(-1), "1969-12-31T23:59:59.999999999Z"),
])
func rfc3339(nanoseconds: Int64, text: String) {
    #expect(Timestamp(nanoseconds: nanoseconds).rfc3339 == text)
}

@Test(arguments: [
    ("10.0.3.24:8080", "10.0.3.24:8080"),
    ("[2001:db8::1]:443", "[2001:db8::1]:443"),
    ("[::1]:80", "[::1]:80"),
    ("[2001:db8:0:0:1:0:0:1]:1", "[2001:db8::1:0:0:1]:1"),
    ("[fe80:0:0:0:0:0:0:0]:9", "[fe80::]:9"),
    // Read from the bytes (the dotted quad and port of a log line) and by the parts alike.
    ("010.000.003.024:00080", "10.0.3.24:80"),
    ("255.255.255.255:65535", "255.255.255.255:65535"),
    ("0.0.0.0:0", "0.0.0.0:0"),
    ("10.0.3.24:+80", "10.0.3.24:80"),
    ("10.0.3.24:000080", "10.0.3.24:80"),
])
func endpointRoundTrip(text: String, expected: String) throws {
    let endpoint = try #require(Endpoint(parsing: Substring(text)))
    #expect(endpoint.description == expected)
}

@Test(arguments: [
    "10.0.3.256:80", "10.0.3:80", "[::1]", "::1:80", "[1::2::3]:80", "host:80", "10.0.0.1:70000", "10.0.0.1:", "10.0.0.1:65536",
    "10.0.0.1.5:80", "10.0..1:80", "1000.0.0.1:80", ".10.0.0.1:80", "10.0.0.1:80:80", "10.0.0.1 :80",
])
func endpointRejects(text: String) {
    #expect(Endpoint(parsing: Substring(text)) == nil)
}
