#if canImport(Glibc)
import Glibc
#endif

/// Writes all of `bytes` to `descriptor`, retrying after a signal and after a short write.
/// Returns `errno` when a write fails (0 when every byte was written), so each caller words its
/// own error.
@discardableResult
func writeAll(_ descriptor: Int32, _ bytes: some Collection<UInt8>) -> Int32 {
    let bytes = Array(bytes)
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + done, $0.count - done) }
        if n < 0, errno == EINTR { continue }
        guard n > 0 else { return n == 0 ? EIO : errno }
        done += n
    }
    return 0
}
