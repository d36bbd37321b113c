#!/usr/bin/env python3
"""SSE fan-out and plain-fetch harness for benches/recovery.sh (stdlib only).

  sse HOST PORT LOGFILE VIEWERS ROUNDS SERVER_PID
      VIEWERS connections follow /events; each round appends one line to LOGFILE and
      times until every viewer has it. Prints JSON: per-round delays, server RSS.
  fetch HOST PORT PATH CLIENTS
      CLIENTS concurrent plain GETs of PATH; prints JSON with the wall time.
"""
import json, os, selectors, socket, statistics, sys, threading, time, uuid


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def connect(host, port, i):
    # Spread over 16 source addresses: the log server caps connections per source
    # (32), and 200 viewers are meant as 200 people, not one.
    return socket.create_connection((host, port), source_address=(f"127.0.1.{1 + i % 16}", 0))


def sse(host, port, logfile, viewers, rounds, pid):
    idle_rss = rss_kib(pid)
    socks = []
    for i in range(viewers):
        s = connect(host, port, i)
        s.sendall(b"GET /events HTTP/1.1\r\nHost: bench\r\n\r\n")
        s.setblocking(False)
        socks.append(s)
    sel = selectors.DefaultSelector()
    for i, s in enumerate(socks):
        sel.register(s, selectors.EVENT_READ, i)
    bufs = [b""] * viewers
    # Let every viewer receive its backlog (the status event comes last).
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all(b"event: status" in b for b in bufs):
        for key, _ in sel.select(0.1):
            bufs[key.data] += key.fileobj.recv(65536)
    assert all(b"event: status" in b for b in bufs), "viewers did not all connect"
    time.sleep(0.3)
    rss_connected = rss_kib(pid)
    delays, per_viewer = [], []
    for r in range(rounds):
        for key, _ in sel.select(0):
            key.fileobj.recv(65536)
        bufs = [b""] * viewers
        marker = f"bench-line-{r}-{uuid.uuid4().hex}".encode()
        got = [None] * viewers
        t0 = time.perf_counter()
        with open(logfile, "ab") as f:
            f.write(b"2026-01-01T00:00:00Z INFO  " + marker + b"\n")
        left = viewers
        while left:
            for key, _ in sel.select(5):
                i = key.data
                bufs[i] += key.fileobj.recv(65536)
                if got[i] is None and marker in bufs[i]:
                    got[i] = time.perf_counter() - t0
                    left -= 1
        delays.append(max(got))
        per_viewer.extend(got)
        time.sleep(0.2)
    print(json.dumps({
        "viewers": viewers,
        "rounds": rounds,
        "all_median_ms": statistics.median(delays) * 1000,
        "all_max_ms": max(delays) * 1000,
        "viewer_median_ms": statistics.median(per_viewer) * 1000,
        "rss_idle_kib": idle_rss,
        "rss_200_kib": rss_connected,
    }))


def fetch(host, port, path, clients):
    sizes = [0] * clients
    retries = [0] * clients
    busy = [0] * clients

    def one(i):
        # A server with a short listen backlog resets some of 200 simultaneous
        # connects, and ours answers 503 past its page pool (128): retry those (and
        # count them) so every client gets the log once.
        for _ in range(200):
            try:
                s = connect(host, port, i)
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
                data = b""
                while True:
                    b = s.recv(65536)
                    if not b:
                        break
                    if len(data) < 16:
                        data += b
                    sizes[i] += len(b)
                s.close()
                if data.startswith(b"HTTP/1.1 503"):
                    busy[i] += 1
                    sizes[i] = 0
                elif sizes[i]:
                    return
            except (ConnectionResetError, ConnectionRefusedError, BrokenPipeError):
                sizes[i] = 0
            retries[i] += 1
            time.sleep(0.01)

    t0 = time.perf_counter()
    ts = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    wall = time.perf_counter() - t0
    assert all(sizes), "a fetch returned nothing"
    print(json.dumps({"clients": clients, "wall_ms": wall * 1000, "bytes": sizes[0],
                      "retries": sum(retries), "busy_503": sum(busy)}))


if __name__ == "__main__":
    if sys.argv[1] == "sse":
        h, p, lf, v, r, pid = sys.argv[2:8]
        sse(h, int(p), lf, int(v), int(r), int(pid))
    else:
        h, p, path, c = sys.argv[2:6]
        fetch(h, int(p), path, int(c))
