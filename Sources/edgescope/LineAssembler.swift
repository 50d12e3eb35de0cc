/// Whole lines out of a file read in chunks, for the followers of a key log and a gateway log:
/// the last line waits for its newline, and a line that grows past `maximumLength` without one
/// is skipped to its end.
struct LineAssembler {
    let maximumLength: Int
    /// The number of the line `unfinished` starts.
    private(set) var nextLine = 1
    /// The last line while its newline has not come.
    private var unfinished: [UInt8] = []
    /// Skipping the rest of a line that grew past `maximumLength`.
    private var skipping = false

    init(maximumLength: Int) {
        self.maximumLength = maximumLength
    }

    /// Hands each whole line `chunk` completes to `line`, with its number. Returns the number of
    /// a line this chunk made too long, which is skipped.
    mutating func take(_ chunk: ArraySlice<UInt8>, line: (_ bytes: [UInt8], _ number: Int) -> Void) -> Int? {
        var start = chunk.startIndex
        while let newline = chunk[start...].firstIndex(of: UInt8(ascii: "\n")) {
            if self.skipping {
                self.skipping = false
            } else {
                self.unfinished += chunk[start..<newline]
                line(self.unfinished, self.nextLine)
            }
            self.unfinished.removeAll(keepingCapacity: true)
            self.nextLine += 1
            start = newline + 1
        }
        guard !self.skipping else { return nil }
        self.unfinished += chunk[start...]
        guard self.unfinished.count > self.maximumLength else { return nil }
        self.unfinished = []
        self.skipping = true
        return self.nextLine
    }

    /// The last line, which never got its newline (the end of a rotated file, or of `analyze`'s
    /// read), with its number; nil when the file ended with a newline.
    mutating func takeUnfinished() -> (bytes: [UInt8], number: Int)? {
        guard !self.unfinished.isEmpty else { return nil }
        defer { self.unfinished = [] }
        return (self.unfinished, self.nextLine)
    }

    /// Goes on after `bytes`, the file's start, which the caller read whole: the line after the
    /// last newline is unfinished.
    mutating func resume(after bytes: [UInt8]) {
        let end = bytes.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0
        self.nextLine += bytes[..<end].count { $0 == UInt8(ascii: "\n") }
        self.unfinished = Array(bytes[end...])
    }

    /// The file is read again from its start.
    mutating func restart() {
        self = LineAssembler(maximumLength: self.maximumLength)
    }
}
