#!/usr/bin/env python3
"""What a flush waits for: fdatasync of one file against syncfs of its file system.

Appends 4 KiB and syncs, N times per method, in a file under DIR (default /var/tmp),
first on a quiet file system and then while a bounded background writer dirties 32 MiB
of another file every 0.5 s (40 rounds at most). Prints p50, p99, max and mean per method.

    python3 scripts/sync-cost.py [DIR] [N]
"""
import ctypes
import os
import statistics
import subprocess
import sys
import time

DIR = sys.argv[1] if len(sys.argv) > 1 else "/var/tmp"
N = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
libc = ctypes.CDLL("libc.so.6", use_errno=True)


def measure(fd, method):
    latencies = []
    for i in range(N):
        os.pwrite(fd, b"x" * 4096, i * 4096)
        start = time.perf_counter()
        if method == "fdatasync":
            os.fdatasync(fd)
        elif libc.syncfs(fd) != 0:
            raise OSError(ctypes.get_errno(), "syncfs failed")
        latencies.append((time.perf_counter() - start) * 1e3)
    latencies.sort()
    return "%-9s p50=%.2fms p99=%.2fms max=%.1fms mean=%.2fms" % (
        method, latencies[N // 2], latencies[int(N * 0.99)], latencies[-1], statistics.mean(latencies))


def run(label):
    path = os.path.join(DIR, "sync-cost.dat")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC)
    try:
        for method in ("fdatasync", "syncfs"):
            print(label, measure(fd, method), flush=True)
    finally:
        os.close(fd)
        os.unlink(path)


run("quiet ")
background = os.path.join(DIR, "sync-cost-background.dat")
writer = subprocess.Popen(
    ["bash", "-c",
     f"for i in $(seq 40); do dd if=/dev/zero of={background} bs=1M count=32 conv=notrunc status=none; sleep 0.5; done"])
try:
    run("writer")
finally:
    writer.kill()
    writer.wait()
    if os.path.exists(background):
        os.unlink(background)
