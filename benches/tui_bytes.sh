#!/usr/bin/env bash
# Bytes the console writes to its terminal, measured from a pty at 80x24 with
# TERM=vt100 (ASCII, mono) and TERM=xterm-256color, against dialog --gauge and
# whiptail --gauge fed the same 101 progress steps (0..100 %). The console follows
# an activation whose progress.json a small script replays step by step (the same
# file the activate process writes; the console cannot tell the difference).
# Also: first paint of a plain start, time to the first frame, peak RSS.
#
# Usage: benches/tui_bytes.sh            (uses target/release if built, else debug)
#        BIN=path/to/upgrade-console benches/tui_bytes.sh
set -euo pipefail
cd "$(dirname "$0")/.."
for t in python3 dialog whiptail; do
  command -v "$t" >/dev/null || { echo "needs $t (apt-get install -y $t)" >&2; exit 2; }
done
if [[ -z "${BIN:-}" ]]; then
  if [[ -x target/release/upgrade-console ]]; then BIN=target/release/upgrade-console
  else cargo build -q; BIN=target/debug/upgrade-console; fi
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$BIN" demo "$work/demo" >/dev/null
root="$work/demo"
cap=benches/pty_capture.py

results="$work/results.tsv"
for term in vt100 xterm-256color; do
  printf 'start,%s\t%s\n' "$term" "$(python3 "$cap" start "$BIN" "$root" "$term")" >>"$results"
  printf 'console,%s\t%s\n' "$term" "$(python3 "$cap" console "$BIN" "$root" "$term")" >>"$results"
  printf 'dialog,%s\t%s\n' "$term" "$(python3 "$cap" gauge dialog "$term")" >>"$results"
  printf 'whiptail,%s\t%s\n' "$term" "$(python3 "$cap" gauge whiptail "$term")" >>"$results"
done

python3 - "$BIN" "$results" <<'PY'
import json, sys
R = {}
for line in open(sys.argv[2]):
    key, doc = line.rstrip("\n").split("\t", 1)
    R[key] = json.loads(doc)
print(f"binary: {sys.argv[1]}")
print()
hdr = f"{'terminal':<15} {'program':<26} {'first paint B':>13} {'B/tick mean':>11} {'median':>6} {'0..100% B':>9} {'1st frame ms':>12} {'settled ms':>10} {'peak RSS KiB':>12}"
print(hdr); print("-" * len(hdr))
names = [("start", "console (status screen)"), ("console", "console (activation)"), ("dialog", "dialog --gauge"), ("whiptail", "whiptail --gauge")]
for term in ["vt100", "xterm-256color"]:
    for key, label in names:
        r = R[f"{key},{term}"]
        tick = "" if key == "start" else f"{r['tick_mean']:.1f}"
        med = "" if key == "start" else f"{r['tick_median']:g}"
        whole = "" if key == "start" else str(r['whole'])
        print(f"{term:<15} {label:<26} {r['first_paint']:>13} {tick:>11} {med:>6} {whole:>9} {r['first_frame_ms']:>12.1f} {r['settled_ms']:>10.1f} {r['peak_rss_kib']:>12}")
print()
print("ratios (console / peer; below 1 means the console sends fewer bytes):")
for term in ["vt100", "xterm-256color"]:
    c = R[f"console,{term}"]
    for peer in ["whiptail", "dialog"]:
        p = R[f"{peer},{term}"]
        print(f"  {term:<15} vs {peer:<9} per tick {c['tick_mean']/p['tick_mean']:.2f}   whole 0..100% {c['whole']/p['whole']:.2f}   first paint {c['first_paint']/p['first_paint']:.2f}")
print()
s = R["start,vt100"]
goal = lambda ok: "met" if ok else "NOT met"
tick_ok = all(R[f"console,{t}"]["tick_mean"] < R[f"whiptail,{t}"]["tick_mean"] for t in ["vt100", "xterm-256color"])
print(f"goal: fewer bytes per tick than whiptail on both terminals: {goal(tick_ok)}")
print(f"goal: first paint in ASCII/mono (vt100) under 4096 B: {s['first_paint']} B, {goal(s['first_paint'] < 4096)}")
print(f"goal: first frame under 50 ms: {s['first_frame_ms']:.1f} ms, {goal(s['first_frame_ms'] < 50)} (status details settled after {s['settled_ms']:.1f} ms)")
print(f"goal: peak RSS under 20 MiB: {s['peak_rss_kib']/1024:.1f} MiB, {goal(s['peak_rss_kib'] < 20480)}")
PY
