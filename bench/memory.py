#!/usr/bin/env python3
"""Memory of a running slotproxy under idle connections and a burst, from /proc.

Run by bench/memory.sh, which starts the cluster and the proxy. Prints Markdown lines:
  1. resident memory idle;
  2. with N/2, then N idle client connections (each has sent one PING): bytes per connection
     over the idle proxy, and between N/2 and N (the cost of one more connection);
  3. a burst: M clients each pipelining K SETs of V-byte values at once, then reading the
     replies; the peak resident memory during it; then resident memory every 0.5 s for 15 s
     after it, and how long it took to come back within twice the idle level.
"""
import argparse
import selectors
import socket
import threading
import time


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def mib(n):
    return f"{n / 1048576:.1f} MiB"


def settle(pid, seconds):
    time.sleep(seconds)
    return rss(pid)


def open_idle(port, n):
    socks = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"PING\r\n")
        socks.append(s)
    for s in socks:
        got = b""
        while not got.endswith(b"\r\n"):
            chunk = s.recv(64)
            if not chunk:
                raise SystemExit(f"connection closed by the proxy after {len(socks)} opened")
            got += chunk
        if got != b"+PONG\r\n":
            raise SystemExit(f"unexpected reply {got!r}")
    return socks


def burst(port, clients, per_client, size):
    """Every client sends its whole pipeline at once, then reads; returns (seconds, errors)."""
    value = b"v" * size
    sel = selectors.DefaultSelector()
    state = {}
    for i in range(clients):
        s = socket.create_connection(("127.0.0.1", port))
        s.setblocking(False)
        req = b"".join(
            b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, size, value)
            for k in (f"burst:{(i * per_client + j) % 1000}".encode() for j in range(per_client)))
        state[s] = [memoryview(req), b"", 0]
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
    t0 = time.time()
    errors = 0
    left = clients
    while left:
        for key, ev in sel.select(timeout=30):
            s = key.fileobj
            st = state[s]
            if ev & selectors.EVENT_WRITE and st[0]:
                try:
                    n = s.send(st[0])
                    st[0] = st[0][n:]
                except BlockingIOError:
                    pass
                if not st[0]:
                    sel.modify(s, selectors.EVENT_READ)
            if ev & selectors.EVENT_READ:
                try:
                    data = s.recv(65536)
                except BlockingIOError:
                    continue
                if not data:
                    errors += per_client - st[2]
                    sel.unregister(s)
                    s.close()
                    left -= 1
                    continue
                st[1] += data
                while b"\r\n" in st[1]:
                    line, st[1] = st[1].split(b"\r\n", 1)
                    if line != b"+OK":
                        errors += 1
                    st[2] += 1
                if st[2] >= per_client:
                    sel.unregister(s)
                    s.close()
                    left -= 1
        if time.time() - t0 > 300:
            raise SystemExit("burst did not finish in 300 s")
    return time.time() - t0, errors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--idle", type=int, default=10000)
    ap.add_argument("--burst-clients", type=int, default=1000)
    ap.add_argument("--burst-pipeline", type=int, default=4)
    ap.add_argument("--value-size", type=int, default=100000)
    a = ap.parse_args()

    base = settle(a.pid, 2)
    print(f"- idle proxy: {mib(base)} resident")
    # Idle buffers are released by the proxy's once-a-second pass and free pages returned to the
    # OS once a second: wait for both, then take the lowest of a few readings. Half the
    # connections first, so that the cost of one more connection (the slope) shows apart from
    # what the proxy keeps whatever the number of clients (pools, tables sized by the peak).
    half = a.idle // 2
    socks = open_idle(a.port, half)
    time.sleep(3)
    with_half = min(settle(a.pid, 0.25) for _ in range(4))
    socks += open_idle(a.port, a.idle - half)
    time.sleep(3)
    with_idle = min(settle(a.pid, 0.25) for _ in range(4))
    per = (with_idle - base) / a.idle
    slope = (with_idle - with_half) / (a.idle - half)
    print(f"- {half} idle client connections: {mib(with_half)} resident")
    print(f"- {a.idle} idle client connections: {mib(with_idle)} resident, "
          f"**{per:.0f} bytes per connection** over the idle proxy; {slope:.0f} bytes per "
          f"connection from {half} to {a.idle}")
    for s in socks:
        s.close()
    after_idle = settle(a.pid, 3)
    print(f"- after closing them: {mib(after_idle)} resident")

    base = after_idle
    peak = [base]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], rss(a.pid))
            time.sleep(0.05)

    th = threading.Thread(target=sample)
    th.start()
    total = a.burst_clients * a.burst_pipeline * a.value_size
    took, errors = burst(a.port, a.burst_clients, a.burst_pipeline, a.value_size)
    end = time.time()
    stop.set()
    th.join()
    print(f"- burst: {a.burst_clients} clients each pipelining {a.burst_pipeline} SETs of "
          f"{a.value_size} bytes ({mib(total)} in all) in {took:.1f} s, {errors} errors; "
          f"peak {mib(peak[0])} resident")
    back = None
    samples = []
    while time.time() - end < 15:
        time.sleep(0.5)
        r = rss(a.pid)
        t = time.time() - end
        samples.append((t, r))
        if back is None and r <= 2 * base:
            back = t
    at10 = min(samples, key=lambda x: abs(x[0] - 10))[1]
    print(f"- after the burst: {mib(samples[0][1])} at {samples[0][0]:.1f} s, "
          f"{mib(at10)} at 10 s, {mib(samples[-1][1])} at {samples[-1][0]:.1f} s; within twice "
          f"the level before it ({mib(2 * base)}) "
          + (f"**{back:.1f} s after the burst**" if back is not None else "**not within 15 s**"))


if __name__ == "__main__":
    main()
