#!/usr/bin/env python3
"""Attack harness for benches/logserver.sh (stdlib only).

  attack.py MODE HOST PORT SECONDS PIDS...
    MODE slow: 96 clients GET /log.txt and read 4 KB every 3 s (receive buffer 4 KB).
    MODE idle: 256 idle connections (ours: /events viewers; nginx: a keep-alive GET
               of a small file, then nothing) -- pass "idle-sse" or "idle-keepalive".
    MODE bundle: 20 clients GET /bundle at the same moment (a barrier), each reading
               the whole body; prints their status codes, whether each body is a whole
               ZIP, how many different bodies there were, the wall time and peak RSS.
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


def bundle(host, port, pids):
    import hashlib, io, zipfile
    n = 20
    barrier = threading.Barrier(n)
    results = [None] * n
    peak = [rss_kib(pids)]
    done = threading.Event()

    def sampler():
        while not done.is_set():
            peak[0] = max(peak[0], rss_kib(pids))
            time.sleep(0.01)

    def get(i):
        s = connect(f"127.0.1.{1 + i % 8}", host, port)
        s.settimeout(120)
        barrier.wait()
        s.sendall(b"GET /bundle HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            b = s.recv(1 << 16)
            if not b:
                break
            data += b
        s.close()
        head, _, body = data.partition(b"\r\n\r\n")
        code = int(head.split(b" ")[1]) if head.startswith(b"HTTP/") else 0
        try:
            whole = zipfile.ZipFile(io.BytesIO(body)).testzip() is None
        except zipfile.BadZipFile:
            whole = False
        results[i] = (code, whole, hashlib.sha256(body).hexdigest(), len(body))

    threading.Thread(target=sampler, daemon=True).start()
    t0 = time.monotonic()
    threads = [threading.Thread(target=get, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = (time.monotonic() - t0) * 1000
    done.set()
    print(json.dumps({
        "codes": sorted(r[0] for r in results),
        "whole_zips": sum(1 for r in results if r[1]),
        "distinct_bodies": len({r[2] for r in results if r[0] == 200}),
        "bytes": max(r[3] for r in results),
        "wall_ms": wall,
        "peak_rss": peak[0],
    }))


def main():
    if sys.argv[1] == "bundle":
        bundle(sys.argv[2], int(sys.argv[3]), [int(p) for p in sys.argv[4:]])
        return
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
