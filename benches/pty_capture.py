#!/usr/bin/env python3
"""Counts the bytes a full-screen program writes to its terminal, from a pty we own
at 80x24 (what a 115200-baud serial line would have to carry).

  pty_capture.py console BIN ROOT TERM   the console following an activation whose
                                         progress.json this script replays 0..100 %
  pty_capture.py start BIN ROOT TERM     a plain start on the status screen
  pty_capture.py gauge TOOL TERM         dialog/whiptail --gauge fed the same 101 steps

Prints one JSON object: first_paint (bytes), first_frame_ms, tick_median and
tick_mean (bytes per progress step), whole (bytes for 0..100 %), peak_rss_kib.
"""
import fcntl
import json
import os
import select
import statistics
import struct
import subprocess
import sys
import termios
import time

COLS, ROWS = 80, 24


def open_pty():
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
    return master, slave


def spawn(argv, term, slave, stdin=None):
    env = dict(os.environ, TERM=term, COLUMNS=str(COLS), LINES=str(ROWS))
    env.pop("NO_COLOR", None)

    def child_setup():
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

    return subprocess.Popen(
        argv,
        stdin=stdin if stdin is not None else slave,
        stdout=slave,
        stderr=slave,
        env=env,
        preexec_fn=child_setup,
        close_fds=True,
    )


class Reader:
    """Collects what the program writes; answers nothing (a dumb line)."""

    def __init__(self, master):
        self.master = master
        self.total = 0
        self.last = time.monotonic()
        self.first = None

    def pump(self, seconds):
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            r, _, _ = select.select([self.master], [], [], left)
            if r:
                try:
                    data = os.read(self.master, 65536)
                except OSError:
                    return
                if not data:
                    return
                self.total += len(data)
                self.last = time.monotonic()
                if self.first is None:
                    self.first = self.last
                if os.environ.get("PTY_DUMP"):
                    with open(os.environ["PTY_DUMP"], "ab") as f:
                        f.write(data + b"\n<<CHUNK>>\n")

    def until_quiet(self, quiet):
        """Reads until nothing arrived for `quiet` seconds (after at least one byte)."""
        while True:
            self.pump(0.02)
            if self.total > 0 and time.monotonic() - self.last >= quiet:
                return


def peak_rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def write_progress(root, fraction, outcome=None):
    path = os.path.join(root, "var/lib/upgrade-console/progress.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    doc = {
        "operation": "activate",
        "stage": "write",
        "step": "slot B",
        "fraction": fraction,
        "rollback_possible": True,
        "do_not_power_off": False,
        "message": "writing the payload to slot B",
        "pid": os.getpid(),
        "updated": "2026-11-23T10:00:00Z",
        "outcome": outcome,
    }
    tmp = path + ".bench.tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)


def measure_console(binary, root, term):
    write_progress(root, 0.0)
    master, slave = open_pty()
    start = time.monotonic()
    proc = spawn([binary, "--root", root], term, slave)
    os.close(slave)
    rd = Reader(master)
    rd.until_quiet(0.4)
    first_paint = rd.total
    # The first frame is written in one go: its first byte marks it; the screen
    # may fill in later (status gathered in a thread) until the line goes quiet.
    first_frame_ms = (rd.first - start) * 1000
    settled_ms = (rd.last - start) * 1000
    ticks = []
    # The console re-reads progress.json every 250 ms: one step per 350 ms.
    for i in range(1, 101):
        before = rd.total
        write_progress(root, i / 100)
        rd.pump(0.35)
        ticks.append(rd.total - before)
    whole = sum(ticks)
    rss = peak_rss_kib(proc.pid)
    write_progress(root, 1.0, outcome="done")
    rd.pump(0.4)
    os.write(master, b"q")
    rd.pump(0.5)
    proc.wait()
    os.close(master)
    return first_paint, first_frame_ms, settled_ms, ticks, whole, rss


def measure_start(binary, root, term):
    """A plain start on the status screen: first paint, time to it, memory."""
    path = os.path.join(root, "var/lib/upgrade-console/progress.json")
    if os.path.exists(path):
        os.remove(path)
    master, slave = open_pty()
    start = time.monotonic()
    proc = spawn([binary, "--root", root], term, slave)
    os.close(slave)
    rd = Reader(master)
    rd.until_quiet(0.6)
    first_paint = rd.total
    # The first frame is written in one go: its first byte marks it; the screen
    # may fill in later (status gathered in a thread) until the line goes quiet.
    first_frame_ms = (rd.first - start) * 1000
    settled_ms = (rd.last - start) * 1000
    rss = peak_rss_kib(proc.pid)
    os.write(master, b"q")
    rd.pump(0.5)
    proc.wait()
    os.close(master)
    return first_paint, first_frame_ms, settled_ms, [0], 0, rss


def measure_gauge(tool, term):
    master, slave = open_pty()
    r, w = os.pipe()
    start = time.monotonic()
    proc = spawn([tool, "--gauge", "Activating firmware: writing slot B", "8", "70", "0"], term, slave, stdin=r)
    os.close(slave)
    os.close(r)
    rd = Reader(master)
    rd.until_quiet(0.4)
    first_paint = rd.total
    # The first frame is written in one go: its first byte marks it; the screen
    # may fill in later (status gathered in a thread) until the line goes quiet.
    first_frame_ms = (rd.first - start) * 1000
    settled_ms = (rd.last - start) * 1000
    ticks = []
    for i in range(1, 101):
        before = rd.total
        os.write(w, f"{i}\n".encode())
        rd.pump(0.08)
        ticks.append(rd.total - before)
    whole = sum(ticks)
    rss = peak_rss_kib(proc.pid)
    os.close(w)
    rd.pump(0.3)
    proc.wait()
    os.close(master)
    return first_paint, first_frame_ms, settled_ms, ticks, whole, rss


def main():
    if sys.argv[1] == "console":
        res = measure_console(sys.argv[2], sys.argv[3], sys.argv[4])
    elif sys.argv[1] == "start":
        res = measure_start(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        res = measure_gauge(sys.argv[2], sys.argv[3])
    first_paint, ffm, settled, ticks, whole, rss = res
    changed = [t for t in ticks if t > 0]
    print(json.dumps({
        "first_paint": first_paint,
        "first_frame_ms": round(ffm, 1),
        "settled_ms": round(settled, 1),
        "tick_median": statistics.median(ticks),
        "tick_mean": round(whole / len(ticks), 1),
        "ticks_with_output": len(changed),
        "whole": whole,
        "peak_rss_kib": rss,
    }))


if __name__ == "__main__":
    main()
