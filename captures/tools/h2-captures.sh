#!/usr/bin/env bash
# Make the HTTP/2 and gRPC captures of captures/http2/ (issue 18); called by make-captures.sh for
# the names `http2` (all of them) and `http2/<capture>` (one, e.g. http2/h2-goaway.haproxy).
#
#   sudo captures/tools/h2-captures.sh [http2 | http2/CAPTURE ...]
#
# Each capture: h2-run.py (its own nginx or HAProxy, the upstream, tcpdump on the client port and
# the upstream port, the client, the truth, the tshark checks) into a temp dir; when every named
# capture succeeded they replace their files in captures/http2/ and h2-readme.py rewrites
# captures/http2/README.md from the truths. Needs root, nginx, haproxy, tcpdump, curl, tshark,
# openssl, and PyPI h2 hyperframe hpack grpcio in the python3 on PATH (or EDGESCOPE_H2_PYTHON):
#   pip install h2 hyperframe hpack grpcio
# Ports: EDGESCOPE_H2_BASE_PORT (default 18400) and the next one.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CAPS=$(dirname "$HERE")
PY=${EDGESCOPE_H2_PYTHON:-$(command -v python3)}
"$PY" -c 'import h2, hyperframe, hpack, grpc' 2>/dev/null \
  || { echo "[h2-captures] error: $PY lacks h2/hyperframe/hpack/grpcio: pip install h2 hyperframe hpack grpcio" >&2; exit 1; }
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY
mapfile -t JOBS < <("$PY" "$HERE/h2_scenarios.py" --list)   # "scenario gateway capture"
SEL=()
for w in "${@:-http2}"; do
  found=0
  for j in "${JOBS[@]}"; do
    read -r jn jg jc <<<"$j"
    if [ "$w" = http2 ] || [ "$w" = "http2/$jc" ] || [ "$w" = "http2/$jn" ]; then SEL+=("$j"); found=1; fi
  done
  [ $found = 1 ] || { echo "[h2-captures] error: unknown capture $w (see h2_scenarios.py --list)" >&2; exit 1; }
done
OUT=$(mktemp -d /tmp/es-h2-out.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
for j in "${SEL[@]}"; do
  read -r jn jg jc <<<"$j"
  "$PY" "$HERE/h2-run.py" --scenario "$jn" --gateway "$jg" --out "$OUT"
done
mkdir -p "$CAPS/http2"
for j in "${SEL[@]}"; do
  read -r jn jg jc <<<"$j"
  for ext in pcap error.log access.log haproxy.log upstream.log client.log truth.json keylog root.pem; do
    rm -f "$CAPS/http2/$jc.$ext"
  done
done
cp "$OUT"/* "$CAPS/http2/"
chmod 644 "$CAPS/http2"/*
"$PY" "$HERE/h2-readme.py" "$CAPS/http2"
echo "[h2-captures] done: ${#SEL[@]} captures" >&2
