#!/usr/bin/env python3
"""Package test: installs dist/edgescope_VERSION_ARCH.deb with dpkg and runs what it installed
without the Swift toolchain.

  package-test.py [--deb PATH] [--debug-binary PATH] [--keep]

Needs root (dpkg -i, a mount namespace, a capture on lo); prints "skipped: needs root" and exits 0
otherwise. Without --deb it runs scripts/package first (and prints how long that took).

Checks:
  control   the package's name, version (Sources/edgescope/Version.swift, as scripts/package
            --print-version reads it), Depends (libpcap0.8, libssl3, and no Swift runtime) and files.
  install   dpkg -i: the binary, man page, completions, unit and /etc/default/edgescope are in
            place and the system user edgescope exists; `ldd /usr/bin/edgescope` names no libswift*
            and no library under the toolchain.
  no-swift  with the toolchain's runtime directory hidden (a tmpfs over it in a mount namespace of
            this test's own) and env -i: the debug build cannot start (the hiding works), and the
            installed binary analyses captures/nginx/fin-before-response.pcap to the verdict and
            evidence frame of its truth (fin-before-response.truth.json, from nginx's error.log);
            --version names this checkout's commit.
  man       the man page is mdoc that groff renders without warnings and names every subcommand.
  complete  the bash completion defines a completion for edgescope; zsh and fish files are there.
  unit      systemd-analyze verify accepts edgescope-capture.service; it keeps CAP_NET_RAW and
            CAP_NET_ADMIN only, as user edgescope, with StateDirectory=edgescope.
  service   the unit's ExecStart, expanded from /etc/default/edgescope the way systemd does (with
            the interface, upstream and directories pointed at this test's loopback and scratch
            directory), run as user edgescope with only those two capabilities (setpriv): a
            connection refused on 127.0.0.1 becomes a tcp.connect.refused incident, the metrics
            file is written, and with no capabilities the capture cannot start (exit 2).
  remove    dpkg --purge removes the files and /var/lib/edgescope.

Prints one line per check and a closing "N passed, N failed"; exits 1 on any failure. The
package is purged at the end whatever happened; the scratch directory is removed on success and
kept (its path printed) on failure or with --keep.
"""

import argparse
import gzip
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NAME = "package-test"
CAPTURE = os.path.join(REPO, "captures", "nginx", "fin-before-response.pcap")
TRUTH = os.path.join(REPO, "captures", "nginx", "fin-before-response.truth.json")
SUBCOMMANDS = ["analyze", "capture", "probe", "report", "codes", "replay"]
CAPABILITIES = {"CAP_NET_RAW", "CAP_NET_ADMIN"}
CLEAN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"

passed = 0
failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok    {name}")
    else:
        failed += 1
        print(f"FAIL  {name}{': ' + detail if detail else ''}")
    sys.stdout.flush()
    return ok


def run(arguments, **kwargs):
    return subprocess.run(arguments, capture_output=True, text=True, timeout=kwargs.pop("timeout", 120), **kwargs)


def toolchain_runtime():
    """The toolchain's runtime directory (libswiftCore.so's), found from `swift`."""
    swift = shutil.which("swift")
    if swift is None:
        return None
    info = json.loads(run([swift, "-print-target-info"]).stdout)
    return info["paths"]["runtimeResourcePath"]


def checkout_commit():
    """What scripts/package stamps: HEAD's 12-digit hash, -dirty when tracked files differ."""
    head = run(["git", "-C", REPO, "rev-parse", "--short=12", "HEAD"])
    if head.returncode != 0:
        return None
    dirty = run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"]).stdout.strip()
    return head.stdout.strip() + ("-dirty" if dirty else "")


def hidden_toolchain(runtime, command):
    """`command` in a mount namespace of its own with a tmpfs over the toolchain's runtime, and
    an environment of PATH alone (no LD_LIBRARY_PATH, no toolchain on PATH)."""
    script = 'mount -t tmpfs tmpfs "$1" && shift && exec env -i PATH=' + CLEAN_PATH + ' "$@"'
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", runtime] + command


def expand_exec_start(line, environment):
    """systemd's expansion of an ExecStart line without quotes: ${VAR} is one word, $VAR is
    split at whitespace (and no word when empty)."""
    words = []
    for word in line.split():
        braced = re.fullmatch(r"\$\{(\w+)\}", word)
        bare = re.fullmatch(r"\$(\w+)", word)
        if braced:
            words.append(environment.get(braced.group(1), ""))
        elif bare:
            words.extend(environment.get(bare.group(1), "").split())
        else:
            words.append(word)
    return words


def environment_file(text):
    """KEY=VALUE lines of an EnvironmentFile, "quotes" removed, comments skipped."""
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def unit_values(text):
    """Each key of the unit file with its values, in order."""
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        values.setdefault(key, []).append(value)
    return values


def refused_port():
    """A loopback port nothing listens on (bound, then closed)."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deb", help="the package to test (default: build it with scripts/package)")
    parser.add_argument("--debug-binary", default=os.path.join(REPO, ".build", "debug", "edgescope"),
                        help="a toolchain-linked build, which must fail to start with the toolchain hidden")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    options = parser.parse_args()

    if os.geteuid() != 0:
        print(f"{NAME}: skipped: needs root (dpkg -i, a mount namespace, a capture on lo)")
        return 0
    version = run([os.path.join(REPO, "scripts", "package"), "--print-version"]).stdout.strip()
    deb = options.deb
    if deb is None:
        started = time.monotonic()
        built = subprocess.run([os.path.join(REPO, "scripts", "package")], stdout=subprocess.PIPE, text=True, timeout=3600)
        print(f"{NAME}: scripts/package took {time.monotonic() - started:.0f} s")
        if not check("scripts/package builds the package", built.returncode == 0, f"exit {built.returncode}"):
            return 1
        deb = built.stdout.strip().splitlines()[-1]
    architecture = run(["dpkg", "--print-architecture"]).stdout.strip()
    check("the package is named edgescope_VERSION_ARCH.deb",
          os.path.basename(deb) == f"edgescope_{version}_{architecture}.deb", deb)

    scratch = tempfile.mkdtemp(prefix=f"{NAME}-")
    try:
        test_package(deb, version, options, scratch)
    finally:
        run(["dpkg", "--purge", "edgescope"])
    check("dpkg --purge removes the binary and /var/lib/edgescope",
          not os.path.exists("/usr/bin/edgescope") and not os.path.exists("/var/lib/edgescope")
          and not os.path.exists("/etc/default/edgescope"))

    print(f"{passed} passed, {failed} failed")
    if failed or options.keep:
        print(f"{NAME}: kept {scratch}")
    else:
        shutil.rmtree(scratch, ignore_errors=True)
    return 1 if failed else 0


def test_package(deb, version, options, scratch):
    fields = dict(re.findall(r"^ ?(\S+): (.*)$", run(["dpkg-deb", "--info", deb]).stdout, re.M))
    check("control: Package edgescope, Version from Version.swift",
          fields.get("Package") == "edgescope" and fields.get("Version") == version, str(fields))
    depends = [part.strip().split(" ")[0] for part in fields.get("Depends", "").split(",")]
    check("control: Depends names libpcap0.8 and libssl3",
          "libpcap0.8" in depends and "libssl3" in depends, fields.get("Depends", ""))
    check("control: Depends names no Swift runtime", not any("swift" in name for name in depends), str(depends))

    if run(["dpkg-query", "-W", "-f=${Status}", "edgescope"]).stdout.endswith(" installed"):
        run(["dpkg", "--purge", "edgescope"])
    installed = run(["dpkg", "-i", deb])
    if not check("dpkg -i installs the package", installed.returncode == 0, installed.stderr.strip()):
        return

    files = ["/usr/bin/edgescope", "/usr/share/man/man1/edgescope.1.gz",
             "/usr/share/bash-completion/completions/edgescope", "/usr/share/zsh/vendor-completions/_edgescope",
             "/usr/share/fish/vendor_completions.d/edgescope.fish", "/lib/systemd/system/edgescope-capture.service",
             "/etc/default/edgescope"]
    missing = [path for path in files if not os.path.isfile(path)]
    check("install: binary, man page, completions, unit, /etc/default/edgescope", not missing, str(missing))
    check("install: the system user edgescope exists", run(["getent", "passwd", "edgescope"]).returncode == 0)

    runtime = toolchain_runtime()
    ldd = run(["ldd", "/usr/bin/edgescope"]).stdout
    swift_libraries = [line.strip() for line in ldd.splitlines()
                       if "libswift" in line or "libFoundation" in line or "libdispatch" in line
                       or (runtime and os.path.dirname(runtime) in line) or "not found" in line]
    check("ldd /usr/bin/edgescope: no libswift*, nothing from the toolchain, nothing missing",
          ldd and not swift_libraries, "\n".join(swift_libraries))
    check("ldd /usr/bin/edgescope: libpcap and libssl from the distribution",
          re.search(r"libpcap\.so\.0\.8 => /(usr/)?lib/", ldd) is not None
          and re.search(r"libssl\.so\.3 => /(usr/)?lib/", ldd) is not None, ldd)

    # Without the toolchain: the debug build must not start, or hiding proves nothing.
    if not check("no-swift: the toolchain's runtime is found (swift on PATH)", runtime is not None):
        return
    if os.path.exists(options.debug_binary):
        debug = run(hidden_toolchain(runtime, [options.debug_binary, "--version"]))
        check("no-swift: a toolchain-linked build cannot start with the runtime hidden",
              debug.returncode != 0 and "libswift" in debug.stderr, f"exit {debug.returncode}: {debug.stderr.strip()}")
    else:
        check("no-swift: a toolchain-linked build to compare with", False, f"no {options.debug_binary}")

    truth = json.load(open(TRUTH))["expected_connections"][0]
    analysed = run(hidden_toolchain(runtime, ["/usr/bin/edgescope", "analyze", "--json", CAPTURE]))
    if check("no-swift: analyze exits 0", analysed.returncode == 0, f"exit {analysed.returncode}: {analysed.stderr.strip()}"):
        connections = json.loads(analysed.stdout)["connections"]
        verdicts = [(c["client"], c["server"], c["verdict"]["code"], [e["frame"] for e in c["evidence"]]) for c in connections]
        check("no-swift: fin-before-response.pcap gives its truth's verdict and evidence frame",
              verdicts == [(truth["client"], truth["server"], truth["verdict"], [truth["evidence_frame"]])], str(verdicts))

    shown = run(hidden_toolchain(runtime, ["/usr/bin/edgescope", "--version"]))
    commit = checkout_commit()
    expected = f"{version} (commit {commit})\n" if commit else f"{version}\n"
    check("no-swift: --version prints the release and the checkout's commit",
          shown.returncode == 0 and shown.stdout == expected, f"{shown.stdout!r}, expected {expected!r}")

    page = gzip.open("/usr/share/man/man1/edgescope.1.gz", "rt").read()
    check("man: an mdoc page for edgescope(1) naming every subcommand",
          re.search(r"^\.Dt EDGESCOPE 1", page, re.M) is not None
          and all(re.search(rf"\b{name}\b", page) for name in SUBCOMMANDS), page[:200])
    rendered = run(["groff", "-mandoc", "-Tutf8", "-ww", "-z"], input=page)
    check("man: groff renders it without warnings", rendered.returncode == 0 and not rendered.stderr.strip(),
          rendered.stderr.strip()[:500])

    completion = run(["bash", "-c", "source /usr/share/bash-completion/completions/edgescope && complete -p edgescope"])
    check("complete: bash registers a completion for edgescope",
          completion.returncode == 0 and completion.stdout.strip().endswith(" edgescope"), completion.stderr.strip())
    zsh = open("/usr/share/zsh/vendor-completions/_edgescope").read()
    fish = open("/usr/share/fish/vendor_completions.d/edgescope.fish").read()
    check("complete: zsh (#compdef edgescope) and fish (complete -c 'edgescope') files",
          zsh.startswith("#compdef edgescope") and "complete -c 'edgescope'" in fish)

    test_unit(runtime, scratch)


def test_unit(runtime, scratch):
    unit_path = "/lib/systemd/system/edgescope-capture.service"
    unit = unit_values(open(unit_path).read())
    verified = run(["systemd-analyze", "verify", "--man=no", unit_path])
    check("unit: systemd-analyze verify accepts it", verified.returncode == 0, verified.stderr.strip())
    check("unit: CAP_NET_RAW and CAP_NET_ADMIN only, as user edgescope, StateDirectory edgescope",
          set(" ".join(unit.get("AmbientCapabilities", [])).split()) == CAPABILITIES
          and set(" ".join(unit.get("CapabilityBoundingSet", [])).split()) == CAPABILITIES
          and unit.get("User") == ["edgescope"] and unit.get("NoNewPrivileges") == ["yes"]
          and "edgescope" in " ".join(unit.get("StateDirectory", [])).split(), str(unit))

    # The unit's own command line, from the installed /etc/default/edgescope with the
    # interface, upstream and directories pointed at this test.
    environment = environment_file(open("/etc/default/edgescope").read())
    check("unit: /etc/default/edgescope names the interface, upstreams, out and metrics file",
          {"EDGESCOPE_INTERFACE", "EDGESCOPE_UPSTREAMS", "EDGESCOPE_OUT", "EDGESCOPE_METRICS_FILE",
           "EDGESCOPE_OPTIONS"} <= set(environment), str(environment))
    state = os.path.join(scratch, "state")
    for directory in [state, state + "/ring", state + "/metrics"]:
        os.makedirs(directory)
        shutil.chown(directory, "edgescope", "edgescope")
    os.chmod(scratch, 0o755)
    port = refused_port()
    for key, value in list(environment.items()):
        environment[key] = value.replace("/var/lib/edgescope", state)
    environment["EDGESCOPE_INTERFACE"] = "lo"
    environment["EDGESCOPE_UPSTREAMS"] = f"--upstream 127.0.0.1:{port}"
    command = expand_exec_start(unit["ExecStart"][0], environment) + ["--duration", "4"]
    caps = "-all,+net_raw,+net_admin"
    as_unit = ["setpriv", "--reuid", "edgescope", "--regid", "edgescope", "--init-groups",
               "--inh-caps", caps, "--ambient-caps", caps, "--bounding-set", caps]
    capture = subprocess.Popen(hidden_toolchain(runtime, as_unit + command), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    for _ in range(2):
        refused = socket.socket()
        try:
            refused.connect(("127.0.0.1", port))
        except ConnectionRefusedError:
            pass
        finally:
            refused.close()
    try:
        stdout, stderr = capture.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        capture.kill()
        stdout, stderr = capture.communicate()
    check("service: the unit's command runs as edgescope with two capabilities and exits 0",
          capture.returncode == 0, f"exit {capture.returncode}: {command}: {stderr.strip()}")
    incidents_path = os.path.join(state, "capture", "incidents.jsonl")
    incidents = [json.loads(line) for line in open(incidents_path)] if os.path.exists(incidents_path) else []
    codes = [incident.get("verdict", {}).get("code") for incident in incidents]
    check("service: the refused connections are tcp.connect.refused incidents",
          codes and set(codes) == {"tcp.connect.refused"}, f"{codes} {stderr.strip()[-400:]}")
    metrics_path = os.path.join(state, "metrics", "edgescope.prom")
    metrics = open(metrics_path).read() if os.path.exists(metrics_path) else ""
    check("service: the metrics file is written (node_exporter's textfile format)",
          'edgescope_capture_info{' in metrics and "interface=\"lo\"" in metrics, metrics[:300])
    rings = os.listdir(state + "/ring")
    check("service: the rotating capture is under the state directory's ring/", rings == ["capture.000001.pcap"], str(rings))

    none = "-all"
    bare = run(hidden_toolchain(runtime, ["setpriv", "--reuid", "edgescope", "--regid", "edgescope", "--init-groups",
                                          "--inh-caps", none, "--bounding-set", none] + command), timeout=60)
    check("service: without the capabilities the capture cannot start (exit 2, one line)",
          bare.returncode == 2 and len(bare.stderr.strip().splitlines()) == 1
          and bare.stderr.startswith("edgescope: cannot capture on lo"), f"exit {bare.returncode}: {bare.stderr.strip()}")


if __name__ == "__main__":
    sys.exit(main())
