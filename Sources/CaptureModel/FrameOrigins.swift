/// Where each frame of several capture files read as one came from: the merged stream numbers
/// its frames 1, 2, 3... in the order it hands them out (what the engine sees), and this says
/// which file each was in and its number there, so a report can name the packet as Wireshark
/// numbers it in that file (`tshark -r FILE -Y 'frame.number == N'`).
///
/// Kept as runs of consecutive frames from one file: a merge of two hops alternates often, but
/// a run costs three numbers, not one per frame. Filled by one reader as it reads, and read on
/// the same thread by the reports written meanwhile and after.
public final class FrameOrigins: @unchecked Sendable {
    /// The files, as named on the command line, in the order given: a frame's `file` indexes this.
    public let paths: [String]

    /// Per run: its first merged frame, its file, and that frame's number in the file.
    private var runStarts: [FrameNumber] = []
    private var runFiles: [UInt16] = []
    private var runLocalStarts: [FrameNumber] = []

    /// Origins for frames of `paths` (at most 65,536 files).
    public init(paths: [String]) {
        precondition(paths.count <= Int(UInt16.max) + 1, "at most 65,536 capture files are merged")
        self.paths = paths
    }

    /// Notes that merged frame `frame` is frame `local` of file `file`. Frames are noted in order.
    @inline(__always)
    public func note(_ frame: FrameNumber, file: Int, local: FrameNumber) {
        if let last = self.runStarts.last, Int(self.runFiles[self.runFiles.count - 1]) == file,
           self.runLocalStarts[self.runLocalStarts.count - 1] &+ (frame &- last) == local {
            return
        }
        self.runStarts.append(frame)
        self.runFiles.append(UInt16(file))
        self.runLocalStarts.append(local)
    }

    /// The file and number in it of merged frame `frame`; frame 0 or one not read yet is
    /// `(0, frame)`.
    public func locate(_ frame: FrameNumber) -> (file: Int, frame: FrameNumber) {
        // The last run starting at or before `frame`.
        var low = 0
        var high = self.runStarts.count
        while low < high {
            let middle = (low + high) / 2
            if self.runStarts[middle] <= frame { low = middle + 1 } else { high = middle }
        }
        guard low > 0 else { return (0, frame) }
        let run = low - 1
        return (Int(self.runFiles[run]), self.runLocalStarts[run] &+ (frame &- self.runStarts[run]))
    }

    /// Runs of consecutive frames from one file so far.
    public var runCount: Int { self.runStarts.count }
}
