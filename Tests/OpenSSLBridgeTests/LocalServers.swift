import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Servers on 127.0.0.1 that the probe tests talk to.
enum LocalServers {
    /// The `openssl` executable on PATH, or `nil`.
    static let openssl: String? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/openssl"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }()

    /// A port nothing listens on right now (bound, then released).
    static func freePort() -> UInt16 {
        let listener = listen()
        defer { close(listener.descriptor) }
        return listener.port
    }

    /// A listening TCP socket on 127.0.0.1 with a kernel-chosen port.
    static func listen() -> (descriptor: Int32, port: UInt16) {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        precondition(descriptor >= 0, "socket: \(String(cString: strerror(errno)))")
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(descriptor, pointer, length) == 0 && Glibc.listen(descriptor, 4) == 0
                    && getsockname(descriptor, pointer, &length) == 0
            }
        }
        precondition(bound, "bind/listen: \(String(cString: strerror(errno)))")
        return (descriptor, UInt16(bigEndian: address.sin_port))
    }

    /// A one-connection plain TCP server: accepts, reads what the client sent first, sends
    /// `reply`, waits `hold` seconds, then closes (with an RST instead of a FIN when `reset`).
    static func plain(reply: [UInt8], hold: Double = 0, reset: Bool = false) -> UInt16 {
        let listener = listen()
        Thread.detachNewThread {
            let connection = accept(listener.descriptor, nil, nil)
            close(listener.descriptor)
            guard connection >= 0 else { return }
            // Read the ClientHello first: closing with unread data makes the kernel send an RST.
            var buffer = [UInt8](repeating: 0, count: 4096)
            _ = buffer.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
            if !reply.isEmpty {
                _ = reply.withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            }
            if hold > 0 { Thread.sleep(forTimeInterval: hold) }
            if reset {
                // SO_LINGER with a zero timeout: close() aborts the connection with an RST.
                var option = linger(l_onoff: 1, l_linger: 0)
                _ = setsockopt(connection, SOL_SOCKET, SO_LINGER, &option, socklen_t(MemoryLayout<linger>.size))
            }
            close(connection)
        }
        return listener.port
    }

    /// A running `openssl s_server`, stopped by `stop()`.
    final class SServer {
        let process: Process
        let port: UInt16
        let log: URL

        /// Starts `openssl s_server` on 127.0.0.1 with the valid leaf and its intermediate, plus
        /// `arguments`, and waits until it accepts connections.
        init(_ openssl: String, arguments: [String]) throws {
            port = LocalServers.freePort()
            log = FileManager.default.temporaryDirectory.appendingPathComponent("edgescope-s_server-\(UUID().uuidString).log")
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            process = Process()
            process.executableURL = URL(fileURLWithPath: openssl)
            process.arguments = [
                "s_server", "-accept", "127.0.0.1:\(port)",
                "-cert", Fixtures.path("leaf-valid.pem"), "-key", Fixtures.path("leaf-valid.key"),
                "-cert_chain", Fixtures.path("intermediate.pem"),
            ] + arguments
            let output = try FileHandle(forWritingTo: log)
            process.standardOutput = output
            process.standardError = output
            process.standardInput = FileHandle.nullDevice
            try process.run()
            // s_server prints ACCEPT once it listens.
            let deadline = Date().addingTimeInterval(10)
            while Date() < deadline {
                if let text = try? String(contentsOf: log, encoding: .utf8), text.contains("ACCEPT") { return }
                if !process.isRunning { break }
                Thread.sleep(forTimeInterval: 0.02)
            }
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            stop()
            throw StartError(message: "openssl s_server did not start: \(text)")
        }

        func stop() {
            if process.isRunning {
                // SIGKILL, not Process.terminate(): the child inherits the test runner's blocked
                // signal mask, which includes SIGTERM, so a SIGTERM would wait forever.
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
            try? FileManager.default.removeItem(at: log)
        }
    }

    struct StartError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }
}
