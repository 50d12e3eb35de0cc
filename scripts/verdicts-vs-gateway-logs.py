#!/usr/bin/env python3
"""Prints, for every nginx capture in captures/, nginx's own log line, the recorded ground truth
and edgescope's verdict side by side (a Markdown table; ✓ when code and class agree).
Usage: scripts/verdicts-vs-gateway-logs.py [path/to/edgescope]  (default .build/release/edgescope)"""
import json, subprocess, glob, os, sys
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAPTURES = os.path.join(ROOT, "captures")
EDGESCOPE = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".build/release/edgescope")
rows=[]
# nginx/ (and no-gateway/, the TLS key-log captures curl made alone); HAProxy's twins are skipped.
for t in sorted(glob.glob(CAPTURES + "/nginx/*.truth.json") + glob.glob(CAPTURES + "/no-gateway/*.truth.json")):
    truth=json.load(open(t))
    gwname=truth.get("gateway","nginx")
    if "haproxy" in gwname.lower(): continue
    gw="nginx:1.22"
    cap=os.path.join(os.path.dirname(t),truth["capture"])   # relative to the truth's folder
    args=[EDGESCOPE,"analyze",cap,"--json","--gateway",gw]
    tls=truth.get("tls") or {}
    if tls.get("ca_file"): args+=["--ca-file",CAPTURES + "/"+tls["ca_file"]]
    if tls.get("keylog"): args+=["--keylog",CAPTURES + "/"+tls["keylog"]]
    if tls.get("crl_file"): args+=["--crl",CAPTURES + "/"+tls["crl_file"]]
    r=json.loads(subprocess.run(args,capture_output=True,text=True).stdout)
    for e in truth["expected_connections"]:
        if e.get("verdict")=="none" and e.get("finding","none")=="none": continue
        m=[c for c in r["connections"] if c["server"]==e["server"] and (e["client"] is None or c["client"]==e["client"])]
        c=m[0] if m else None
        log=(e.get("gateway_log") or "").split(" while ")[0].split(", client:")[0]
        log=log.replace("|","\\|")[:75] or "—"
        ok="✓" if c and c["verdict"]["code"]==e["verdict"] and (not e.get("class") or c["verdict"]["class"]==e.get("class")) else "✗"
        rows.append(f"| {truth['capture'].replace('.pcap','')} | {log} | {e['verdict']} {e.get('class','')} | {c['verdict']['code'] if c else '-'} {c['verdict']['class'] if c else '-'} {ok} |")
print("| capture (nginx 1.22.1) | nginx error.log | truth | edgescope |")
print("|---|---|---|---|")
print("\n".join(rows))
