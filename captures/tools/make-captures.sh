#!/usr/bin/env bash
# Regenerate edgescope's real sample captures of the gateway -> upstream hop.
#
#   sudo captures/tools/make-captures.sh              # everything
#   sudo captures/tools/make-captures.sh NAME...      # only these (a scenario name, e.g.
#        http-chunked-bad-size, makes its nginx and HAProxy captures; a base name such
#        as http-chunked-bad-size.haproxy makes just that one; the first seven are
#        healthy-keepalive refused rst-before-response fin-before-response any-mixed
#        ipv6-loopback)
#   sudo captures/tools/make-captures.sh tls          # only the TLS captures (tls_scenarios.py)
#   sudo captures/tools/make-captures.sh client-hop   # both hops of nginx (client-hop-run.py)
#   sudo captures/tools/make-captures.sh client-hop-no-live-upstreams   # the same, every member refusing
#   sudo captures/tools/make-captures.sh client-hop-cut   # the same, bodies that break after a 200
#   sudo captures/tools/make-captures.sh apache       # every Apache httpd capture (captures/apache/),
#                                               # its TLS ones (tls_scenarios.py) included
#   sudo captures/tools/make-captures.sh apache-tls   # only Apache's TLS captures (all together: one
#                                               # certificate set, captures/apache/tls/*.pem)
#   sudo captures/tools/make-captures.sh lighttpd     # every lighttpd capture (captures/lighttpd/)
#   sudo captures/tools/make-captures.sh apache/http-header-obs-fold   # one of them
#        (Apache and lighttpd: gw_apache_lighttpd.py; they need apache2 and lighttpd; their
#        outputs go in a folder per gateway: <gateway>/<scenario>.pcap, .error.log, .access.log,
#        .upstream.log, .client.log, .truth.json)
#   sudo captures/tools/make-captures.sh caddy        # every Caddy capture (captures/caddy/)
#   sudo captures/tools/make-captures.sh varnish      # every Varnish capture (captures/varnish/)
#   sudo captures/tools/make-captures.sh caddy/http-header-obs-fold     # one of them
#   sudo captures/tools/make-captures.sh http2        # every HTTP/2 and gRPC capture (captures/http2/,
#                                               # h2-captures.sh; needs pip install h2 hyperframe hpack grpcio)
#   sudo captures/tools/make-captures.sh http2/h2-goaway.haproxy   # one of them
#   sudo captures/tools/make-captures.sh fastcgi      # every FastCGI capture (captures/fastcgi/): nginx,
#                                               # Apache and Caddy in front of php8.2-fpm or the scripted
#                                               # FastCGI server, both hops (fastcgi-run.py)
#   sudo captures/tools/make-captures.sh fastcgi/nginx-killed-before-output   # one of them
#        (apt-get install -y php8.2-fpm apache2 caddy; ports EDGESCOPE_FASTCGI_BASE_PORT,
#        default 19380, .. +3; fastcgi_scenarios.py --list lists them)
#
# Caddy 2.6 and Varnish 7.1 (Debian 12's `caddy` and `varnish`: apt-get install -y caddy
# varnish; their system services are never used) get a folder each: run-scenario.py --gateway
# caddy|varnish runs a private instance (temp dir, foreground, loopback) per scenario of
# scenarios.GATEWAY_FOLDER_EXPECT and writes captures/GATEWAY/SCENARIO.{pcap,gateway.log,
# upstream.log,client.log,truth.json}; GATEWAY/README.md is the table of what each did.
#
# The TLS captures (nginx/tls-*.pcap, haproxy/tls-*.haproxy.pcap, no-gateway/, tls_scenarios.py) share one set of certificates, made afresh
# by tls-certs.sh (openssl CLI) in the temp dir on every run and installed as captures/tls/*.pem
# (certificates only, no keys). So they are made all together: name `tls` (or every TLS
# scenario); naming only some of them is refused. To debug one, run tls-run.py by hand
# (see its --help) with a certificate dir from tls-certs.sh.
#
# The first seven captures are made by the bash functions below. Every other one is a
# scenario of scenarios.py, made by run-scenario.py (its own nginx or HAProxy, the
# scripted upstream, tcpdump; network namespaces joined by wire.py where a scenario
# needs delay, loss or reordering), with its truth from build-truth.py, checked by
# check-capture.py. Any failed check stops the run with an error; nothing is replaced
# then.
#
# For each scenario this starts a private nginx (own prefix, conf, pid file and
# logs in a temp dir, `daemon off`, `proxy_next_upstream off`), the scripted
# upstream(s) (captures/tools/upstream.py) on loopback high ports, and tcpdump on the
# upstream ports only (so the client -> nginx hop is not captured). It drives
# nginx with curl, stops nginx (graceful), lets tcpdump flush, stops it with
# SIGINT, and writes into captures/ (the parent of this script's folder), a folder per
# gateway (the one exception, `client-hop`, captures the client -> nginx hop too:
# client-hop-run.py):
#
#   nginx/<name>.pcap  nginx/<name>.nginx-error.log  nginx/<name>.access.log
#   nginx/<name>.upstream.log  nginx/<name>.truth.json   (built by build-truth.py from those logs only)
#   haproxy/<name>.haproxy.pcap ... (HAProxy's twin: .haproxy.log, the same others)
#   no-gateway/<name>.pcap ...     (TLS key-log captures curl or openssl s_client made alone)
#
# plus nginx/healthy-keepalive.pcapng (+ healthy-keepalive.pcapng.truth.json).
# Names on the command line may omit the folder (http-chunked-bad-size.haproxy).
# Every capture is checked with tshark/capinfos (check-capture.py) before the
# old outputs are replaced. Only loopback is used (127.0.0.1 and ::1).
#
# Environment: EDGESCOPE_CAPTURE_BASE_PORT (default 18080; uses BASE..BASE+6 and
#              BASE+10..BASE+12),
#              KEEP_WORK=1 keeps the temp dir for debugging.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)   # captures/tools: the generators
CAPS=$(dirname "$HERE")                               # captures/: where the captures live
BASE=${EDGESCOPE_CAPTURE_BASE_PORT:-18080}
GW_PORT=$BASE             # nginx (client side, never captured)
P_HEALTHY=$((BASE + 1))   # upstream.py --mode healthy
P_REFUSED=$((BASE + 2))   # nothing listens here
P_RST=$((BASE + 3))       # upstream.py --mode rst
P_FIN=$((BASE + 4))       # upstream.py --mode fin
P6_HEALTHY=$((BASE + 5))  # [::1] healthy
P6_FIN=$((BASE + 6))      # [::1] fin

log() { printf '[make-captures] %s\n' "$*" >&2; }
die() { printf '[make-captures] error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "tcpdump needs root: run  sudo $0"
for tool in nginx haproxy tcpdump curl tshark editcap capinfos ss ip openssl; do
  command -v "$tool" >/dev/null || die "$tool is missing (apt-get install -y nginx haproxy tcpdump curl tshark iproute2 openssl)"
done
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3) || die "python3 is missing"

# curl must never go through a proxy: everything here is loopback.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

for p in "$GW_PORT" "$P_HEALTHY" "$P_REFUSED" "$P_RST" "$P_FIN" "$P6_HEALTHY" "$P6_FIN" \
         $((BASE + 10)) $((BASE + 11)) $((BASE + 12)); do
  if [ -n "$(ss -Htln "( sport = :$p )")" ]; then
    die "port $p is already in use; set EDGESCOPE_CAPTURE_BASE_PORT to a free range (uses BASE..BASE+12)"
  fi
done

# Which captures to make: none named = all.
LEGACY=(healthy-keepalive refused rst-before-response fin-before-response any-mixed ipv6-loopback)
mapfile -t JOBS < <("$PY" "$HERE/scenarios.py" --list)   # "scenario gateway base" per line
mapfile -t TLS_JOBS < <("$PY" "$HERE/tls_scenarios.py" --list)   # the same, TLS scenarios
mapfile -t FCGI_JOBS < <("$PY" "$HERE/fastcgi_scenarios.py" --list)   # "scenario gateway fastcgi/GATEWAY-SCENARIO"
# Apache's TLS captures (captures/apache/tls-*) have a certificate set of their own
# (captures/apache/tls/): made by their own loop below, all together, when `apache` or
# `apache-tls` is named (or everything).
APACHE_TLS_JOBS=()
OTHER_TLS_JOBS=()
for j in "${TLS_JOBS[@]}"; do
  case "$j" in
    *" apache "*|*" apache-plain "*) APACHE_TLS_JOBS+=("$j") ;;
    *) OTHER_TLS_JOBS+=("$j") ;;
  esac
done
TLS_JOBS=("${OTHER_TLS_JOBS[@]}")
WANT=()
H2_WANT=()   # http2 and http2/<capture>: made by h2-captures.sh (captures/http2/, issue 18)
for w in "$@"; do
  case "$w" in http2|http2/*) H2_WANT+=("$w") ;; *) WANT+=("$w") ;; esac
done
if [ $# != 0 ] && [ ${#WANT[@]} = 0 ]; then
  exec "$HERE/h2-captures.sh" "${H2_WANT[@]}"
fi
[ $# = 0 ] && H2_WANT=(http2)
wanted() {  # wanted NAME [BASE]: is this capture selected?
  local w
  [ ${#WANT[@]} = 0 ] && return 0
  for w in "${WANT[@]}"; do
    [ "$w" = "$1" ] && return 0
    [ -n "${2:-}" ] && [ "$w" = "$2" ] && return 0
  done
  return 1
}
for w in "${WANT[@]}"; do
  known=0
  for l in "${LEGACY[@]}"; do [ "$l" = "$w" ] && known=1; done
  for j in "${JOBS[@]}"; do
    read -r jn jg jb <<<"$j"
    { [ "$jn" = "$w" ] || [ "$jb" = "$w" ] || [ "${jb##*/}" = "$w" ]; } && known=1
  done
  [ "$w" = tls ] && known=1
  [ "$w" = apache ] && known=1
  [ "$w" = lighttpd ] && known=1
  [ "$w" = apache-tls ] && known=1
  case "$w" in caddy|varnish) known=1 ;; esac
  [ "$w" = client-hop ] && known=1
  [ "$w" = fastcgi ] && known=1
  for j in "${FCGI_JOBS[@]}"; do
    read -r jn jg jb <<<"$j"
    { [ "$jb" = "$w" ] || [ "${jb##*/}" = "$w" ]; } && known=1
  done
  [ "$w" = client-hop-no-live-upstreams ] && known=1
  [ "$w" = client-hop-cut ] && known=1
  for j in "${TLS_JOBS[@]}"; do
    read -r jn jg jb <<<"$j"
    { [ "$jn" = "$w" ] || [ "$jb" = "$w" ] || [ "${jb##*/}" = "$w" ]; } && known=1
  done
  [ $known = 1 ] || die "unknown capture name: $w (see scenarios.py --list, tls_scenarios.py --list)"
done
# TLS: all or nothing (one certificate set for every TLS capture).
tls_wanted() {  # tls_wanted NAME BASE
  local w
  [ ${#WANT[@]} = 0 ] && return 0
  for w in "${WANT[@]}"; do
    { [ "$w" = tls ] || [ "$w" = "$1" ] || [ "$w" = "$2" ] || [ "$w" = "${2##*/}" ]; } && return 0
  done
  return 1
}
TLS_SELECTED=0
TLS_MISSING=0
for j in "${TLS_JOBS[@]}"; do
  read -r jn jg jb <<<"$j"
  if tls_wanted "$jn" "$jb"; then TLS_SELECTED=1; else TLS_MISSING=1; fi
done
if [ $TLS_SELECTED = 1 ] && [ $TLS_MISSING = 1 ]; then
  die "the TLS captures share one certificate set: regenerate them all with  $0 tls"
fi

GATEWAY=$(nginx -v 2>&1 | sed -n 's|^nginx version: nginx/\([0-9.]*\).*|nginx \1|p')
[ -n "$GATEWAY" ] || die "cannot read the nginx version from nginx -v"

WORK=$(mktemp -d /tmp/edgescope-captures.XXXXXX)
chmod 755 "$WORK"      # nginx workers run as nobody
OUT="$WORK/out"            # mirrors captures/: nginx/, haproxy/, no-gateway/, apache/, ...
NGX="$OUT/nginx"           # the first seven captures and client-hop are nginx's
mkdir -p "$OUT" "$NGX"

TCPDUMP_PID=""
NGINX_PID=""
UPSTREAM_PIDS=()

stop_pid() {  # stop_pid PID SIGNAL: signal, wait up to 5 s, then SIGKILL
  local pid=$1 sig=$2 i
  [ -n "$pid" ] || return 0
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill "-$sig" "$pid" 2>/dev/null || true
  for i in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid ignored SIG$sig; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

stop_all() {
  stop_pid "$NGINX_PID" QUIT; NGINX_PID=""
  stop_pid "$TCPDUMP_PID" INT; TCPDUMP_PID=""
  local pid
  for pid in "${UPSTREAM_PIDS[@]}"; do stop_pid "$pid" TERM; done
  UPSTREAM_PIDS=()
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_all
  if [ "${KEEP_WORK:-0}" = 1 ] || [ "$rc" != 0 ]; then
    log "work dir kept: $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local secs=$1 what=$2 i
  shift 2
  for i in $(seq $((secs * 20))); do
    if "$@"; then return 0; fi
    sleep 0.05
  done
  die "timed out waiting for $what"
}

listening() { [ -n "$(ss -Htln "( sport = :$1 )")" ]; }

start_upstream() {  # start_upstream DIR HOST PORT MODE
  local dir=$1 host=$2 port=$3 mode=$4
  "$PY" "$HERE/upstream.py" --host "$host" --port "$port" --mode "$mode" \
    --log "$dir/upstream.log" --ready-file "$dir/ready.$port" 2>>"$dir/upstream.stderr" &
  UPSTREAM_PIDS+=("$!")
  wait_for 10 "upstream.py on $host port $port" test -s "$dir/ready.$port"
}

write_nginx_conf() {  # write_nginx_conf DIR LISTEN HTTP_BLOCK_BODY
  local dir=$1 listen=$2 body=$3
  mkdir -p "$dir/logs" "$dir/tmp"
  cat >"$dir/nginx.conf" <<EOF
# generated by captures/tools/make-captures.sh
daemon off;
master_process on;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 64; }
http {
    log_format edgescope '\$msec \$status "\$upstream_addr" "\$upstream_status" "\$upstream_connect_time" "\$request" \$remote_addr \$remote_port';
    access_log $dir/logs/access.log edgescope;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_next_upstream off;
$body
    server {
        listen $listen;
        location /ok/      { proxy_pass http://up_healthy; }
        location /refused/ { proxy_pass http://up_refused; }
        location /rst/     { proxy_pass http://up_rst; }
        location /fin/     { proxy_pass http://up_fin; }
        location /         { return 404; }
    }
}
EOF
}

start_nginx() {  # start_nginx DIR
  local dir=$1
  nginx -t -q -p "$dir/" -c "$dir/nginx.conf" -e "$dir/logs/error.log" || die "nginx -t failed for $dir/nginx.conf"
  : >"$dir/logs/error.log"   # keep only what the scenario itself makes nginx write
  nginx -p "$dir/" -c "$dir/nginx.conf" -e "$dir/logs/error.log" 2>>"$dir/nginx.stderr" &
  NGINX_PID=$!
  wait_for 10 "nginx pid file" test -s "$dir/nginx.pid"
  wait_for 10 "nginx listening on port $GW_PORT" listening "$GW_PORT"
}

start_tcpdump() {  # start_tcpdump DIR IFACE FILE PRECISION FILTER
  local dir=$1 iface=$2 file=$3 precision=$4 filter=$5
  # --immediate-mode: without it libpcap (TPACKET_V3) hands packets over in
  # blocks retired after up to 1 s, and SIGINT would lose the last block.
  # Immediate mode uses a TPACKET_V2 ring of snaplen-sized slots; on "any" a
  # slot is 256 KiB, so the default 2 MiB ring holds ~7 packets and bursts
  # were dropped: -B 32768 (KiB) gives it room.
  tcpdump -i "$iface" -n -U --immediate-mode -B 32768 -s 0 --time-stamp-precision="$precision" -w "$file" "$filter" \
    2>"$dir/tcpdump.stderr" &
  TCPDUMP_PID=$!
  wait_for 10 "tcpdump to start on $iface" grep -q "listening on" "$dir/tcpdump.stderr"
}

stop_scenario() {  # stop_scenario DIR: nginx (graceful), then tcpdump, then upstreams
  local dir=$1 pid
  stop_pid "$NGINX_PID" QUIT; NGINX_PID=""
  sleep 1.5                   # let the closes reach the wire and tcpdump write them
  stop_pid "$TCPDUMP_PID" INT; TCPDUMP_PID=""
  for pid in "${UPSTREAM_PIDS[@]}"; do stop_pid "$pid" TERM; done
  UPSTREAM_PIDS=()
  grep -q "^0 packets dropped by kernel" "$dir/tcpdump.stderr" \
    || die "tcpdump reports kernel drops: $(cat "$dir/tcpdump.stderr")"
}

request() {  # request DIR BASEURL PATH EXPECTED_STATUS
  local dir=$1 base=$2 path=$3 want=$4 got
  got=$(curl --noproxy '*' -sS -o /dev/null -w '%{http_code}' --max-time 20 "$base$path") || true
  printf '%s %s\n' "$path" "$got" >>"$dir/client.log"
  [ "$got" = "$want" ] || die "GET $path: client got $got, expected $want"
  sleep 0.1   # keep connections of consecutive requests apart in time
}

finish_scenario() {  # finish_scenario DIR NAME CAPTURE_FILE
  local dir=$1 name=$2 cap=$3
  cp "$dir/logs/error.log" "$NGX/$name.nginx-error.log"
  cp "$dir/logs/access.log" "$NGX/$name.access.log"
  cp "$dir/upstream.log" "$NGX/$name.upstream.log" 2>/dev/null || : >"$NGX/$name.upstream.log"
  "$PY" "$HERE/build-truth.py" --name "$name" --capture "$(basename "$cap")" --pcap "$cap" \
    --gateway "$GATEWAY" --error-log "$NGX/$name.nginx-error.log" \
    --access-log "$NGX/$name.access.log" --upstream-log "$NGX/$name.upstream.log" \
    --out "$NGX/$name.truth.json"
}

FILTER4() { echo "tcp and net 127.0.0.0/8 and ($1)"; }
PORTS() { local p out=""; for p in "$@"; do out="${out:+$out or }port $p"; done; echo "$out"; }

UPSTREAMS_V4="    upstream up_healthy { server 127.0.0.1:$P_HEALTHY; keepalive 4; }
    upstream up_refused { server 127.0.0.1:$P_REFUSED; keepalive 4; }
    upstream up_rst     { server 127.0.0.1:$P_RST; keepalive 4; }
    upstream up_fin     { server 127.0.0.1:$P_FIN; keepalive 4; }"

# ---------------------------------------------------------------- scenarios

scenario_healthy_keepalive() {
  local name=healthy-keepalive dir="$WORK/healthy-keepalive" base="http://127.0.0.1:$GW_PORT"
  log "$name"
  mkdir -p "$dir"
  start_upstream "$dir" 127.0.0.1 "$P_HEALTHY" healthy
  write_nginx_conf "$dir" "127.0.0.1:$GW_PORT" "$UPSTREAMS_V4"
  start_nginx "$dir"
  start_tcpdump "$dir" lo "$NGX/$name.pcap" nano "$(FILTER4 "$(PORTS "$P_HEALTHY")")"
  request "$dir" "$base" /ok/cl/1 200
  request "$dir" "$base" /ok/chunked/2 200
  request "$dir" "$base" /ok/cl/3 200
  request "$dir" "$base" /ok/chunked/4 200
  # Two requests at once: the upstream delays "slow" answers, so nginx must
  # open a second keep-alive connection for one of them.
  local p1 p2
  request "$dir" "$base" /ok/slow/cl/5 200 & p1=$!
  request "$dir" "$base" /ok/slow/chunked/6 200 & p2=$!
  wait "$p1"; wait "$p2"
  request "$dir" "$base" /ok/cl/7 200
  request "$dir" "$base" /ok/chunked/8 200
  stop_scenario "$dir"
  finish_scenario "$dir" "$name" "$NGX/$name.pcap"
  # The same packets as pcapng (editcap keeps the nanosecond resolution).
  editcap -F pcapng "$NGX/$name.pcap" "$NGX/$name.pcapng"
  "$PY" "$HERE/build-truth.py" --name "$name" --capture "$name.pcapng" --pcap "$NGX/$name.pcapng" \
    --gateway "$GATEWAY" --error-log "$NGX/$name.nginx-error.log" \
    --access-log "$NGX/$name.access.log" --upstream-log "$NGX/$name.upstream.log" \
    --out "$NGX/$name.pcapng.truth.json"
}

scenario_refused() {
  local name=refused dir="$WORK/refused" base="http://127.0.0.1:$GW_PORT"
  log "$name"
  mkdir -p "$dir"
  write_nginx_conf "$dir" "127.0.0.1:$GW_PORT" "$UPSTREAMS_V4"
  start_nginx "$dir"
  start_tcpdump "$dir" lo "$NGX/$name.pcap" micro "$(FILTER4 "$(PORTS "$P_REFUSED")")"
  request "$dir" "$base" /refused/1 502
  stop_scenario "$dir"
  finish_scenario "$dir" "$name" "$NGX/$name.pcap"
}

scenario_rst() {
  local name=rst-before-response dir="$WORK/rst-before-response" base="http://127.0.0.1:$GW_PORT"
  log "$name"
  mkdir -p "$dir"
  start_upstream "$dir" 127.0.0.1 "$P_RST" rst
  write_nginx_conf "$dir" "127.0.0.1:$GW_PORT" "$UPSTREAMS_V4"
  start_nginx "$dir"
  start_tcpdump "$dir" lo "$NGX/$name.pcap" micro "$(FILTER4 "$(PORTS "$P_RST")")"
  request "$dir" "$base" /rst/1 502
  stop_scenario "$dir"
  finish_scenario "$dir" "$name" "$NGX/$name.pcap"
}

scenario_fin() {
  local name=fin-before-response dir="$WORK/fin-before-response" base="http://127.0.0.1:$GW_PORT"
  log "$name"
  mkdir -p "$dir"
  start_upstream "$dir" 127.0.0.1 "$P_FIN" fin
  write_nginx_conf "$dir" "127.0.0.1:$GW_PORT" "$UPSTREAMS_V4"
  start_nginx "$dir"
  start_tcpdump "$dir" lo "$NGX/$name.pcap" micro "$(FILTER4 "$(PORTS "$P_FIN")")"
  request "$dir" "$base" /fin/1 502
  stop_scenario "$dir"
  finish_scenario "$dir" "$name" "$NGX/$name.pcap"
}

scenario_any_mixed() {
  local name=any-mixed dir="$WORK/any-mixed" base="http://127.0.0.1:$GW_PORT"
  log "$name"
  mkdir -p "$dir"
  start_upstream "$dir" 127.0.0.1 "$P_HEALTHY" healthy
  start_upstream "$dir" 127.0.0.1 "$P_RST" rst
  write_nginx_conf "$dir" "127.0.0.1:$GW_PORT" "$UPSTREAMS_V4"
  start_nginx "$dir"
  start_tcpdump "$dir" any "$NGX/$name.pcap" micro "$(FILTER4 "$(PORTS "$P_HEALTHY" "$P_REFUSED" "$P_RST")")"
  request "$dir" "$base" /ok/cl/1 200
  request "$dir" "$base" /refused/2 502
  request "$dir" "$base" /ok/chunked/3 200
  request "$dir" "$base" /rst/4 502
  stop_scenario "$dir"
  finish_scenario "$dir" "$name" "$NGX/$name.pcap"
}

scenario_ipv6() {
  local name=ipv6-loopback dir="$WORK/ipv6-loopback" base="http://[::1]:$GW_PORT"
  log "$name"
  mkdir -p "$dir"
  start_upstream "$dir" ::1 "$P6_HEALTHY" healthy
  start_upstream "$dir" ::1 "$P6_FIN" fin
  write_nginx_conf "$dir" "[::1]:$GW_PORT" "    upstream up_healthy { server [::1]:$P6_HEALTHY; keepalive 4; }
    upstream up_fin     { server [::1]:$P6_FIN; keepalive 4; }
    upstream up_refused { server [::1]:$P_REFUSED; }
    upstream up_rst     { server [::1]:$P_RST; }"
  start_nginx "$dir"
  start_tcpdump "$dir" lo "$NGX/$name.pcap" micro "tcp and ip6 host ::1 and ($(PORTS "$P6_HEALTHY" "$P6_FIN"))"
  request "$dir" "$base" /ok/cl/1 200
  request "$dir" "$base" /ok/chunked/2 200
  request "$dir" "$base" /fin/3 502
  request "$dir" "$base" /ok/cl/4 200
  stop_scenario "$dir"
  finish_scenario "$dir" "$name" "$NGX/$name.pcap"
}

LEGACY_DONE=()
wanted healthy-keepalive   && { scenario_healthy_keepalive; LEGACY_DONE+=(nginx/healthy-keepalive nginx/healthy-keepalive.pcapng); }
wanted refused             && { scenario_refused; LEGACY_DONE+=(nginx/refused); }
wanted rst-before-response && { scenario_rst; LEGACY_DONE+=(nginx/rst-before-response); }
wanted fin-before-response && { scenario_fin; LEGACY_DONE+=(nginx/fin-before-response); }
wanted any-mixed           && { scenario_any_mixed; LEGACY_DONE+=(nginx/any-mixed); }
wanted ipv6-loopback       && { scenario_ipv6; LEGACY_DONE+=(nginx/ipv6-loopback); }

# ------------------------------------------------- scenarios.py (nginx and HAProxy)

folder_wanted() {  # folder_wanted GATEWAY: caddy or varnish named as a whole
  local w
  for w in "${WANT[@]}"; do [ "$w" = "$1" ] && return 0; done
  return 1
}
NEW_DONE=()
for j in "${JOBS[@]}"; do
  read -r jn jg jb <<<"$j"
  case "$jg" in
    apache|lighttpd)
      # Named by folder (apache, lighttpd), by base (apache/NAME), or all; a bare scenario
      # name selects only its nginx and HAProxy captures.
      if [ ${#WANT[@]} != 0 ]; then wanted "$jg" "$jb" || continue; fi
      command -v "$([ "$jg" = apache ] && echo apache2 || echo lighttpd)" >/dev/null \
        || die "$jg is missing (apt-get install -y apache2 lighttpd)"
      mkdir -p "$OUT/$jg" ;;
    caddy|varnish) { [ ${#WANT[@]} = 0 ] || folder_wanted "$jg" || folder_wanted "$jb"; } || continue ;;
    *) wanted "$jn" "$jb" || wanted "${jb##*/}" || continue ;;   # nginx/NAME, haproxy/NAME.haproxy
  esac
  case "$jg" in
    caddy) command -v caddy >/dev/null || die "caddy is missing (apt-get install -y caddy)" ;;
    varnish) { command -v varnishd && command -v varnishlog; } >/dev/null \
               || die "varnish is missing (apt-get install -y varnish)" ;;
  esac
  # run-scenario.py stops everything it started (and deletes its namespaces) itself;
  # it is one foreground child, so the trap above only has to wait for it.
  "$PY" "$HERE/run-scenario.py" --name "$jn" --gateway "$jg" --work "$WORK" --out "$OUT" \
    --base-port "$BASE" --attempts 3 >>"$OUT/check.txt" \
    || die "$jb failed (see $WORK/$jb and the messages above)"
  tail -n 1 "$OUT/check.txt" >&2
  NEW_DONE+=("$jb")
done

# ------------------------------------------------- client-hop (both hops of nginx)

HOP_DONE=()
if wanted client-hop; then
  "$PY" "$HERE/client-hop-run.py" --work "$WORK" --out "$NGX" --base-port "$BASE" >>"$OUT/check.txt" \
    || die "client-hop failed (see $WORK/client-hop and the messages above)"
  tail -n 1 "$OUT/check.txt" >&2
  HOP_DONE+=(nginx/client-hop)
fi
if wanted client-hop-no-live-upstreams; then
  "$PY" "$HERE/client-hop-run.py" --scenario no_live_upstreams_scenario --work "$WORK" --out "$NGX" \
    --base-port "$BASE" >>"$OUT/check.txt" \
    || die "client-hop-no-live-upstreams failed (see $WORK/client-hop-no-live-upstreams and the messages above)"
  tail -n 1 "$OUT/check.txt" >&2
  HOP_DONE+=(nginx/client-hop-no-live-upstreams)
fi
if wanted client-hop-cut; then
  "$PY" "$HERE/client-hop-run.py" --scenario client_hop_cut_scenario --work "$WORK" --out "$NGX" \
    --base-port "$BASE" >>"$OUT/check.txt" \
    || die "client-hop-cut failed (see $WORK/client-hop-cut and the messages above)"
  tail -n 1 "$OUT/check.txt" >&2
  HOP_DONE+=(nginx/client-hop-cut)
fi

# ------------------------------------------------- fastcgi_scenarios.py (captures/fastcgi/)

FCGI_DONE=()
for j in "${FCGI_JOBS[@]}"; do
  read -r jn jg jb <<<"$j"
  if [ ${#WANT[@]} != 0 ]; then wanted fastcgi "$jb" || wanted "${jb##*/}" || continue; fi
  command -v php-fpm8.2 >/dev/null || die "php-fpm8.2 is missing (apt-get install -y php8.2-fpm)"
  case "$jg" in
    apache) command -v apache2 >/dev/null || die "apache2 is missing (apt-get install -y apache2)" ;;
    caddy) command -v caddy >/dev/null || die "caddy is missing (apt-get install -y caddy)" ;;
  esac
  "$PY" "$HERE/fastcgi-run.py" --capture "$jb" --work "$WORK" --out "$OUT" >>"$OUT/check.txt" \
    || die "$jb failed (see $WORK/$jb and the messages above)"
  tail -n 1 "$OUT/check.txt" >&2
  FCGI_DONE+=("$jb")
done

# ------------------------------------------------- tls_scenarios.py (TLS, all together)

TLS_DONE=()
if [ $TLS_SELECTED = 1 ]; then
  mkdir -p "$WORK/tls-certs" "$WORK/tls-out"
  "$HERE/tls-certs.sh" "$WORK/tls-certs" >&2 || die "tls-certs.sh failed"
  for j in "${TLS_JOBS[@]}"; do
    read -r jn jg jb <<<"$j"
    "$PY" "$HERE/tls-run.py" --name "$jn" --gateway "$jg" --work "$WORK" --out "$OUT" \
      --certs "$WORK/tls-certs" --base-port "$BASE" >>"$OUT/check.txt" \
      || die "$jb failed (see $WORK/$jb and the messages above)"
    tail -n 1 "$OUT/check.txt" >&2
    TLS_DONE+=("$jb")
  done
  # The certificates (never the keys) beside the captures, for --ca-file captures/tls/root.pem.
  for c in root intermediate other-root other-intermediate leaf-valid leaf-expired leaf-not-yet-valid \
           leaf-wrong-name leaf-self-signed leaf-no-serverauth leaf-other-ca leaf-other-ca-expired leaf-revoked crl; do
    cp "$WORK/tls-certs/$c.pem" "$WORK/tls-out/$c.pem"
  done
  if grep -l "PRIVATE KEY" "$WORK/tls-out"/*.pem; then die "a key ended up among the certificates"; fi
fi

# ------------------------------------- Apache's TLS captures (their own certificate set)

APACHE_TLS_DONE=()
if [ ${#APACHE_TLS_JOBS[@]} != 0 ] && { [ ${#WANT[@]} = 0 ] || wanted apache apache-tls; }; then
  command -v apache2 >/dev/null || die "apache2 is missing (apt-get install -y apache2)"
  mkdir -p "$WORK/apache-tls-certs" "$WORK/apache-tls-out" "$OUT/apache"
  chmod 755 "$WORK/apache-tls-certs"   # Apache's children (www-data) read root.pem
  "$HERE/tls-certs.sh" "$WORK/apache-tls-certs" >&2 || die "tls-certs.sh failed"
  for j in "${APACHE_TLS_JOBS[@]}"; do
    read -r jn jg jb <<<"$j"
    "$PY" "$HERE/tls-run.py" --name "$jn" --gateway "$jg" --work "$WORK" --out "$OUT" \
      --certs "$WORK/apache-tls-certs" --base-port "$BASE" >>"$OUT/check.txt" \
      || die "$jb failed (see $WORK/$jb and the messages above)"
    tail -n 1 "$OUT/check.txt" >&2
    APACHE_TLS_DONE+=("$jb")
  done
  for c in root intermediate other-root other-intermediate leaf-valid leaf-expired leaf-wrong-name \
           leaf-self-signed leaf-other-ca; do
    cp "$WORK/apache-tls-certs/$c.pem" "$WORK/apache-tls-out/$c.pem"
  done
  if grep -l "PRIVATE KEY" "$WORK/apache-tls-out"/*.pem; then die "a key ended up among the certificates"; fi
fi

# ---------------------------------------------------------------- checks

log "checking the first seven captures against their truth files (tshark, capinfos)"
# (run-scenario.py has already checked each of the others the same way.)
for b in "${LEGACY_DONE[@]}"; do
  "$PY" "$HERE/check-capture.py" --dir "$NGX" --truth "$OUT/$b.truth.json" | tee -a "$OUT/check.txt"
done

# ---------------------------------------------------------------- install

log "replacing the outputs in $CAPS"
OUTPUT_GLOBS='*.pcap *.pcapng *.log *.truth.json *.keylog'
if [ ${#WANT[@]} = 0 ]; then
  # A full run replaces every output (a scenario that was removed leaves nothing behind).
  for sub in nginx haproxy no-gateway apache lighttpd caddy varnish fastcgi; do
    for g in $OUTPUT_GLOBS; do rm -f "$CAPS/$sub"/$g; done
  done
else
  for b in "${LEGACY_DONE[@]}" "${NEW_DONE[@]}" "${HOP_DONE[@]}" "${TLS_DONE[@]}" "${APACHE_TLS_DONE[@]}" "${FCGI_DONE[@]}"; do
    for ext in pcap pcapng truth.json pcapng.truth.json nginx-error.log access.log upstream.log \
               client.log wire.log log keylog error.log gateway.log root.pem leaf.pem upstream-access.log; do
      rm -f "$CAPS/$b.$ext"
    done
  done
fi
rm -f "$OUT/check.txt"
for f in "$OUT"/*; do
  if [ -d "$f" ]; then   # a gateway's own folder (nginx/, haproxy/, no-gateway/, apache/, ...)
    mkdir -p "$CAPS/$(basename "$f")"
    for g in "$f"/*; do
      [ -e "$g" ] || continue   # nothing made for this folder
      cp "$g" "$CAPS/$(basename "$f")/"
      chmod 644 "$CAPS/$(basename "$f")/$(basename "$g")"
    done
    continue
  fi
  cp "$f" "$CAPS/"
  chmod 644 "$CAPS/$(basename "$f")"
done
if [ ${#APACHE_TLS_DONE[@]} != 0 ]; then
  rm -f "$CAPS/apache/tls"/*.pem
  mkdir -p "$CAPS/apache/tls"
  for f in "$WORK/apache-tls-out"/*.pem; do
    cp "$f" "$CAPS/apache/tls/"
    chmod 644 "$CAPS/apache/tls/$(basename "$f")"
  done
fi
if [ ${#TLS_DONE[@]} != 0 ]; then
  # One run makes one certificate set, so every set the scenarios name (tls/, tls-b/) gets it.
  for set in tls tls-b; do
    rm -f "$CAPS/$set"/*.pem
    mkdir -p "$CAPS/$set"
    for f in "$WORK/tls-out"/*.pem; do
      cp "$f" "$CAPS/$set/"
      chmod 644 "$CAPS/$set/$(basename "$f")"
    done
  done
fi
if [ ${#H2_WANT[@]} != 0 ]; then
  "$HERE/h2-captures.sh" "${H2_WANT[@]}"
fi
if [ ${#FCGI_DONE[@]} != 0 ]; then
  "$PY" "$HERE/fastcgi-readme.py" --dir "$CAPS/fastcgi" || die "fastcgi-readme.py failed"
fi
log "done"
