#!/usr/bin/env python3
"""Attack harness for benches/logserver.sh (stdlib only).

  attack.py MODE HOST PORT SECONDS PIDS...
    MODE slow: 96 clients GET /log.txt and read 4 KB every 3 s (receive buffer 4 KB).
    MODE idle: 256 idle connections (ours: /events viewers; nginx: a keep-alive GET
               of a small file, then nothing) -- pass "idle-sse" or "idle-keepalive".
  Meanwhile a fresh client from another address fetches /log.txt once a second.
  Prints JSON: peak RSS (KiB, summed over PIDS), the fresh fetches' time to the first
  byte and to the whole body (ms), and how many fresh fetches failed.
Clients use 127.0.1.x source addresses (the log server caps connections per source).
"""
import json, socket, sys, threading, time


def rss_kib(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total


def connect(src, host, port, rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.bind((src, 0))
    s.connect((host, port))
    return s


def fresh(host, port):
    t0 = time.monotonic()
    s = connect("127.0.2.1", host, port)
    s.settimeout(60)
    s.sendall(b"GET /log.txt HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
    first = None
    got = b""
    n = 0
    while True:
        b = s.recv(1 << 16)
        if not b:
            break
        if first is None:
            first = time.monotonic()
            got = b[:16]
        n += len(b)
    s.close()
    end = time.monotonic()
    ok = got.startswith(b"HTTP/1.1 200") and n > 1_000_000
    return ok, (first - t0) * 1000 if first else None, (end - t0) * 1000


def main():
    mode, host, port, secs = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    pids = [int(p) for p in sys.argv[5:]]
    idle_rss = rss_kib(pids)
    socks = []
    stop = threading.Event()
    if mode == "slow":
        for i in range(96):
            s = connect(f"127.0.1.{1 + i % 8}", host, port, rcvbuf=4096)
            s.sendall(b"GET /log.txt HTTP/1.1\r\nHost: bench\r\n\r\n")
            s.settimeout(0.05)
            socks.append(s)

        def reader():
            while not stop.is_set():
                for s in socks:
                    try:
                        s.recv(4096)
                    except (socket.timeout, OSError):
                        pass
                stop.wait(3)

        threading.Thread(target=reader, daemon=True).start()
    else:
        for i in range(256):
            s = connect(f"127.0.1.{1 + i % 16}", host, port)
            if mode == "idle-sse":
                s.sendall(b"GET /events HTTP/1.1\r\nHost: bench\r\n\r\n")
            else:
                s.sendall(b"GET /small.txt HTTP/1.1\r\nHost: bench\r\n\r\n")
            socks.append(s)
        time.sleep(1)
    peak = rss_kib(pids)
    ttfb, whole, failed = [], [], 0
    end = time.monotonic() + secs
    while time.monotonic() < end:
        peak = max(peak, rss_kib(pids))
        try:
            ok, f, w = fresh(host, port)
        except OSError:
            ok, f, w = False, None, None
        if ok:
            ttfb.append(f)
            whole.append(w)
        else:
            failed += 1
        peak = max(peak, rss_kib(pids))
        time.sleep(1)
    stop.set()
    for s in socks:
        s.close()
    print(json.dumps({"idle_rss": idle_rss, "peak_rss": peak, "ttfb": ttfb,
                      "whole": whole, "failed": failed}))


main()
