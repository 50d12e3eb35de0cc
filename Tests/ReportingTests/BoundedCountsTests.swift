@testable import Reporting
import Testing

/// Issue 16 item 5: what report.json says of the healthy traffic is counted in memory that
/// stays flat however many connections a capture holds.

@Test func responseTimesAreExactUpToTheLimit() {
    var times = ResponseTimes()
    for value in (1...1000).reversed() { times.add(UInt32(value) * 7) }
    #expect(times.count == 1000)
    #expect(times.percentile(50) == 3500)
    #expect(times.percentile(99) == 6930)
    #expect(times.maximum == 7000)
}

@Test func pastTheLimitPercentilesAreWithinABucketOfTheExactOnes() {
    var times = ResponseTimes()
    var all: [UInt32] = []
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    for _ in 0..<(ResponseTimes.exactLimit * 3) {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        let value = UInt32(truncatingIfNeeded: state >> 40) % 2_000_000
        times.add(value)
        all.append(value)
    }
    all.sort()
    #expect(times.count == all.count)
    #expect(times.maximum == all.last)
    for percent in [50, 90, 99] {
        let exact = all[(all.count * percent + 99) / 100 - 1]
        let estimate = times.percentile(percent)
        // A bucket is at most 1/64 of its value wide; its middle is within 1/128.
        #expect(abs(Double(estimate) - Double(exact)) <= Double(exact) / 64 + 1, "p\(percent): \(estimate) vs \(exact)")
    }
}

@Test func bucketsCoverEveryValueInOrder() {
    var previous = -1
    for value: UInt32 in [0, 1, 127, 128, 129, 255, 256, 1000, 65_535, 1 << 20, UInt32.max] {
        let bucket = ResponseTimes.bucket(of: value)
        #expect(bucket >= previous, "\(value)")
        #expect(bucket < ResponseTimes.bucketCount)
        previous = bucket
        let middle = ResponseTimes.middle(of: bucket)
        #expect(abs(Double(middle) - Double(value)) <= Double(value) / 64 + 1, "\(value) → \(middle)")
    }
}

@Test func connectionStartsPastTheLimitDrawTheSameTimelineToAFineColumn() {
    let first: Int64 = 1_000_000_000_000
    let span: Int64 = 600_000_000_000  // ten minutes
    let total = ConnectionStarts.exactLimit * 2
    var starts = ConnectionStarts()
    var exact = [[Int]](repeating: [Int](repeating: 0, count: 60), count: 2)
    var exactFailed = exact
    for index in 0..<total {
        let start = first + span * Int64(index) / Int64(total)
        let server = Int32(index % 2)
        let failed = index % 10 == 0
        starts.add(server: server, start: start, failed: failed)
        let bin = min(59, Int(Double(start - first) / Double(span) * 60))
        exact[Int(server)][bin] += 1
        if failed { exactFailed[Int(server)][bin] += 1 }
    }
    var drawn = [[Int]](repeating: [Int](repeating: 0, count: 60), count: 2)
    var drawnFailed = drawn
    var counted = 0
    starts.forEach { server, start, failed, count in
        let bin = min(59, max(0, Int(Double(start - first) / Double(span) * 60)))
        drawn[Int(server)][bin] += count
        if failed { drawnFailed[Int(server)][bin] += count }
        counted += count
    }
    #expect(counted == total)
    // Each column within one fine column's connections (span / 1024 of a 2,048-wide grid) of the exact one.
    let slack = total / 2 / 1024 + 1
    for server in 0..<2 {
        #expect(drawn[server].reduce(0, +) == exact[server].reduce(0, +))
        #expect(drawnFailed[server].reduce(0, +) == exactFailed[server].reduce(0, +))
        for bin in 0..<60 {
            #expect(abs(drawn[server][bin] - exact[server][bin]) <= 2 * slack, "server \(server) column \(bin)")
        }
    }
}
