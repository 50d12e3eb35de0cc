#!/usr/bin/env python3
"""One table from a benchmark run's InfluxDB CSV export (run.sh writes it).

Usage: summarize.py RESULTS.influx.csv [CAPTURES_DIR]

Per benchmark: the median pass (p50) for wall time, throughput and mallocs per
packet, and the highest sample for the two peak-memory metrics.  CAPTURES_DIR
(where make-captures.sh left NAME.log) adds each capture's packets and size.
"""

import csv
import os
import re
import sys

STAGES = {"decode": 0, "reassemble": 1, "engine": 2}


def load(path):
    """{benchmark: {metric: {percentile: value}}}"""
    table = {}
    with open(path, newline="") as f:
        rows = [r for r in csv.reader(f) if r and not r[0].startswith("#")]
    header = rows[0]
    col = {name: i for i, name in enumerate(header)}
    for r in rows[1:]:
        name, metric = r[col["test"]], r[col["metric"]]
        table.setdefault(name, {}).setdefault(metric, {})[float(r[col["percentile"]])] = float(r[col["value"]])
    return table


def capture_info(directory, capture):
    """(packets, connections) from the generator's closing line, or (None, None)."""
    if not directory:
        return None, None
    try:
        with open(os.path.join(directory, capture + ".log")) as f:
            text = f.read()
    except OSError:
        return None, None
    packets = re.search(r"packets=(\d+)", text)
    connections = re.search(r"connections=(\d+)", text)
    return (int(packets.group(1)) if packets else None, int(connections.group(1)) if connections else None)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    table = load(sys.argv[1])
    captures = sys.argv[2] if len(sys.argv) > 2 else None

    def order(name):
        stage, _, capture = name.partition(" ")
        return (capture, STAGES.get(stage, 9))

    header = ["benchmark", "packets", "wall p50", "CPU p50", "MB/s", "Mpackets/s", "mallocs/packet",
              "peak RSS", "peak above capture"]
    lines = []
    for name in sorted(table, key=order):
        m = table[name]
        stage, _, capture = name.partition(" ")
        packets, _ = capture_info(captures, capture)

        def p(metric, percentile=50.0):
            return m.get(metric, {}).get(percentile)

        wall = p("Time(wallclock)")
        cpu = p("Time(totalCPU)")
        mbs = p("Throughput(MB/s)")
        kpps = p("Throughput(Kpackets/s)")
        mallocs = p("Mallocsper1kpackets")
        peak = p("Memory(residentpeak)", 100.0)
        delta = p("MemoryΔ(residentpeak)", 100.0)
        lines.append([
            name,
            f"{packets:,}" if packets else "?",
            f"{wall / 1e6:.1f} ms" if wall is not None else "?",
            f"{cpu / 1e6:.0f} ms" if cpu is not None else "?",
            f"{mbs:,.0f}" if mbs is not None else "?",
            f"{kpps / 1e3:.2f}" if kpps is not None else "?",
            f"{mallocs / 1e3:.3f}" if mallocs is not None else "?",
            f"{peak / 2**20:.0f} MiB" if peak is not None else "?",
            f"{delta / 2**20:.0f} MiB" if delta is not None else "?",
        ])
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |")
    print("|" + "|".join("-" * (w + 1) + ":" if i else "-" * (w + 2) for i, w in enumerate(widths)) + "|")
    for line in lines:
        print("| " + " | ".join(x.ljust(w) if i == 0 else x.rjust(w) for i, (x, w) in enumerate(zip(line, widths))) + " |")
    print()
    print("wall, CPU (10 ms resolution), MB/s (10^6 bytes of capture file per second), Mpackets/s and")
    print("mallocs/packet: median pass; wall well above CPU means the pass waited for a core;")
    print("peak RSS: highest resident set sampled (includes the capture held in memory);")
    print("peak above capture: highest resident set above what it was once the capture was loaded.")


if __name__ == "__main__":
    main()
