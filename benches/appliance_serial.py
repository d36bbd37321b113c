#!/usr/bin/env python3
"""The virtual appliance's serial line, measured on the host side (stdlib only).

  appliance_serial.py DISK [RUNS]
Boots a copy of DISK under qemu (TCG) RUNS times with the serial console on a unix
socket and times, from power-on (qemu started): GRUB's menu entry, the slot's init
(its first line), the boot phase's verdict, and the console's first whole frame;
counts the bytes of the console's first paint (from its terminal query to the end of
the frame; the query is answered as an 80x24 terminal would) and the bytes it writes per second while idle on the status screen.
Prints one JSON document.
"""
import json, os, shutil, socket, statistics, subprocess, sys, tempfile, time

MARKS = {
    "grub": b"Booting `Appliance firmware",
    "init": b"appliance: firmware",
    "boot_phase": b"boot from slot",
    "console_query": b"\x1b[6n",
    "first_frame": b"Operation  none",
}


def one(disk):
    d = tempfile.mkdtemp()
    try:
        img = os.path.join(d, "disk.img")
        subprocess.run(["cp", "--sparse=always", disk, img], check=True)
        sock = os.path.join(d, "s")
        q = subprocess.Popen(
            ["qemu-system-x86_64", "-accel", "tcg", "-m", "512", "-nographic", "-net", "none",
             "-monitor", "none", "-display", "none", "-no-reboot",
             "-drive", f"file={img},format=raw,if=virtio,cache=none",
             "-chardev", f"socket,id=s0,path={sock},server=on,wait=on", "-serial", "chardev:s0"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while not os.path.exists(sock):
            time.sleep(0.01)
        s = socket.socket(socket.AF_UNIX)
        for _ in range(500):
            try:
                s.connect(sock)
                break
            except OSError:
                time.sleep(0.01)
        t0 = time.monotonic()
        s.settimeout(0.2)
        data = bytearray()
        when = {}
        deadline = t0 + 300
        frame_end = None
        answered = 0
        while time.monotonic() < deadline:
            try:
                b = s.recv(65536)
            except socket.timeout:
                b = b""
            now = time.monotonic()
            data += b
            # Answer each cursor report as an 80x24 terminal does (the console
            # learns a serial line's size from it; unanswered, it waits 2 s).
            while data.count(b"\x1b[6n") > answered:
                s.sendall(b"\x1b[24;80R")
                answered += 1
            for k, m in MARKS.items():
                if k not in when and m in data:
                    when[k] = (now - t0, data.find(m))
            if "first_frame" in when and frame_end is None and not b:
                frame_end = (now - t0, len(data))  # the frame's bytes have stopped
            if frame_end and now - t0 > frame_end[0] + 10:
                break
        q.kill()
        q.wait()
        paint = frame_end[1] - when["console_query"][1]
        idle = (len(data) - frame_end[1]) / (time.monotonic() - t0 - frame_end[0])
        return {k: round(v[0], 2) for k, v in when.items()} | {
            "first_paint_bytes": paint, "idle_bytes_per_s": round(idle, 1)}
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main():
    disk = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    res = [one(disk) for _ in range(runs)]
    keys = sorted({k for r in res for k in r})
    med = {k: statistics.median([r[k] for r in res if k in r] or [float("nan")]) for k in keys}
    print(json.dumps({"runs": res, "median": med}))


main()
