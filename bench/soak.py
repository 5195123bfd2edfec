#!/usr/bin/env python3
"""Soak test of a running slotproxy: many connections, mixed traffic, faults every few seconds.

Run by bench/soak.sh, which starts the cluster and the proxy. For --duration seconds:
  - --conns client connections each run a mix of commands (GET, SET, INCR, MGET, HSET, LPUSH/LPOP,
    EXPIRE, DEL, PING) with a think time, --rate requests per second in all;
  - --writers connections write unique keys as fast as they can (SET soak:w<i>:<n> <n>) and
    remember every write that was acknowledged with +OK, and when;
  - every --fault-interval seconds one fault, in turn: a master paused with SIGSTOP for 1.5 s, a
    manual failover (CLUSTER FAILOVER on a replica), a replica killed and restarted, a master
    killed with SIGKILL and restarted 5 s later (it comes back as a replica).
Afterwards every acknowledged write is read back through the proxy. Writes acknowledged by a
master shortly before it was SIGKILLed can be lost by Redis itself (replication is asynchronous),
so lost writes are reported apart for those windows (from 1 s before the kill to the promotion).
Prints Markdown lines: requests and errors by type, lost writes, peak resident memory.
"""
import argparse
import collections
import os
import random
import selectors
import signal
import socket
import subprocess
import threading
import time


def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Reader:
    """Incremental RESP2 reply reader: feed bytes, pop complete replies (errors as Err)."""

    class Err(str):
        pass

    def __init__(self):
        self.buf = b""

    def feed(self, data):
        self.buf += data

    def _parse(self, pos):
        nl = self.buf.find(b"\r\n", pos)
        if nl < 0:
            return None
        t, line, nxt = self.buf[pos:pos + 1], self.buf[pos + 1:nl], nl + 2
        if t == b"+":
            return line.decode(), nxt
        if t == b"-":
            return Reader.Err(line.decode(errors="replace")), nxt
        if t == b":":
            return int(line), nxt
        if t == b"$":
            n = int(line)
            if n < 0:
                return None, nxt
            if len(self.buf) < nxt + n + 2:
                return None
            return self.buf[nxt:nxt + n], nxt + n + 2
        if t == b"*":
            n = int(line)
            items = []
            for _ in range(max(n, 0)):
                r = self._parse(nxt)
                if r is None:
                    return None
                items.append(r[0])
                nxt = r[1]
            return items, nxt
        raise ValueError("bad reply byte %r" % t)

    def pop(self):
        if not self.buf:
            return False, None
        r = self._parse(0)
        if r is None:
            return False, None
        self.buf = self.buf[r[1]:]
        return True, r[0]


def rss(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class Cluster:
    """The nodes of a cluster started by tests/cluster.sh in dir (pid files node-<port>/redis.pid)."""

    def __init__(self, d):
        self.dir = d
        self.ports = sorted(int(n.split("-")[1]) for n in os.listdir(d) if n.startswith("node-"))

    def pid(self, port):
        with open(f"{self.dir}/node-{port}/redis.pid") as f:
            return int(f.read().strip())

    def cmd(self, port, *args, timeout=1.0):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
            s.sendall(resp(*args))
            r = Reader()
            while True:
                r.feed(s.recv(65536))
                ok, v = r.pop()
                if ok:
                    s.close()
                    return v
        except (OSError, ValueError):
            return None

    def role(self, port):
        v = self.cmd(port, "ROLE", timeout=0.5)
        return v[0].decode() if isinstance(v, list) and v and isinstance(v[0], bytes) else None

    def masters(self):
        return [p for p in self.ports if self.role(p) == "master"]

    def replicas(self):
        return [p for p in self.ports if self.role(p) == "slave"]

    def replica_of(self, master):
        v = self.cmd(master, "ROLE")
        if isinstance(v, list) and len(v) > 2 and v[2]:
            return int(v[2][0][1])
        return None

    def kill(self, port, sig):
        os.kill(self.pid(port), sig)

    def start(self, port):
        """Starts a killed node again, as tests/cluster.sh started it (same nodes.conf)."""
        subprocess.run([os.path.join(os.path.dirname(__file__), "..", "tests", "cluster.sh"),
                        "restart", self.dir, str(port)], check=True, stdout=subprocess.DEVNULL)

    def healthy(self):
        """Every node says cluster_state:ok and every master has a replica attached."""
        for p in self.ports:
            v = self.cmd(p, "CLUSTER", "INFO")
            if not isinstance(v, bytes) or b"cluster_state:ok" not in v:
                return False
        masters = self.masters()
        return len(masters) == 3 and all(self.replica_of(m) for m in masters)


class Faults(threading.Thread):
    def __init__(self, cluster, interval, stop):
        super().__init__(daemon=True)
        self.c, self.interval, self.stop = cluster, interval, stop
        self.log = []           # (time, text)
        self.kill_windows = []  # (from, to): writes acked here may be lost by Redis itself

    def note(self, text):
        self.log.append((time.time(), text))

    def wait_promotion(self, replica, limit=20):
        end = time.time() + limit
        while time.time() < end:
            if self.c.role(replica) == "master":
                return time.time()
            time.sleep(0.01)
        return None

    def run(self):
        kinds = ["sigstop", "failover", "replica-restart", "master-sigkill"]
        k = 0
        while not self.stop.wait(self.interval):
            kind = kinds[k % len(kinds)]
            k += 1
            masters = self.c.masters()
            if len(masters) < 3:
                self.note(f"skipped {kind}: only {len(masters)} masters")
                continue
            # Only masters with a replica attached: killing one without would lose its data in
            # Redis itself (no persistence here), which says nothing about the proxy.
            masters = [p for p in masters if self.c.replica_of(p)]
            if not masters:
                self.note(f"skipped {kind}: no master has a replica attached")
                continue
            m = random.choice(masters)
            try:
                if kind == "sigstop":
                    self.c.kill(m, signal.SIGSTOP)
                    time.sleep(1.5)
                    self.c.kill(m, signal.SIGCONT)
                    self.note(f"SIGSTOP master {m} for 1.5 s")
                elif kind == "failover":
                    r = self.c.replica_of(m)
                    if r:
                        self.c.cmd(r, "CLUSTER", "FAILOVER")
                        t = self.wait_promotion(r, 10)
                        self.note(f"CLUSTER FAILOVER: {r} replaced {m}"
                                  + ("" if t else " (not promoted in 10 s)"))
                elif kind == "replica-restart":
                    r = self.c.replica_of(m)
                    if r:
                        self.c.kill(r, signal.SIGKILL)
                        time.sleep(1)
                        self.c.start(r)
                        self.note(f"replica {r} killed and restarted")
                else:
                    r = self.c.replica_of(m)
                    t0 = time.time()
                    self.c.kill(m, signal.SIGKILL)
                    t = self.wait_promotion(r, 20) if r else None
                    self.kill_windows.append((t0 - 1, (t or time.time()) + 0.1))
                    self.note(f"SIGKILL master {m}; replica {r} promoted after "
                              + (f"{t - t0:.2f} s" if t else "more than 20 s"))
                    time.sleep(5)
                    self.c.start(m)
                    self.note(f"old master {m} restarted")
            except (OSError, subprocess.CalledProcessError) as e:
                self.note(f"{kind} failed: {e}")
            # Let the cluster settle before the next fault.
            end = time.time() + 20
            while time.time() < end and not self.c.healthy():
                time.sleep(0.2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--cluster-dir", required=True)
    ap.add_argument("--duration", type=float, default=120)
    ap.add_argument("--conns", type=int, default=10000)
    ap.add_argument("--rate", type=float, default=3000)
    ap.add_argument("--writers", type=int, default=20)
    ap.add_argument("--fault-interval", type=float, default=6)
    a = ap.parse_args()

    cluster = Cluster(a.cluster_dir)
    sel = selectors.DefaultSelector()
    stop = threading.Event()
    counts = collections.Counter()
    errors = collections.Counter()
    acked = []  # (key, value, time)
    peak = [rss(a.pid)]

    class Conn:
        pass

    def connect(kind, idx):
        c = Conn()
        c.kind, c.idx, c.seq = kind, idx, 0
        c.s = socket.create_connection(("127.0.0.1", a.port))
        c.s.setblocking(False)
        c.r = Reader()
        c.pending = collections.deque()  # what each sent request expects
        c.out = b""
        c.next_at = time.time() + random.uniform(0, a.conns / a.rate)
        sel.register(c.s, selectors.EVENT_READ, c)
        return c

    conns = [connect("mix", i) for i in range(a.conns)]
    writers = [connect("writer", i) for i in range(a.writers)]
    think = a.conns / a.rate

    def send(c, payload, expect):
        c.out += payload
        c.pending.append(expect)
        try:
            n = c.s.send(c.out)
            c.out = c.out[n:]
        except BlockingIOError:
            pass
        if c.out:
            sel.modify(c.s, selectors.EVENT_READ | selectors.EVENT_WRITE, c)

    def mix_request(c):
        k = f"soak:m{random.randrange(5000)}"
        op = random.randrange(10)
        if op < 3:
            return resp("GET", k), ("GET",)
        if op < 5:
            return resp("SET", k, "x" * random.randrange(1, 2000)), ("SET",)
        if op == 5:
            return resp("INCR", f"soak:n{random.randrange(100)}"), ("INCR",)
        if op == 6:
            keys = [f"soak:m{random.randrange(5000)}" for _ in range(5)]
            return resp("MGET", *keys), ("MGET", len(keys))
        if op == 7:
            return resp("HSET", f"soak:h{random.randrange(100)}", "f", "v"), ("HSET",)
        if op == 8:
            lk = f"soak:l{random.randrange(100)}"
            return resp("LPUSH", lk, "v") + resp("LTRIM", lk, 0, 99), ("LPUSH",), ("LTRIM",)
        return resp("PING"), ("PING",)

    def writer_next(c):
        c.seq += 1
        key = f"soak:w{c.idx}:{c.seq}"
        send(c, resp("SET", key, c.seq), ("W", key, c.seq))

    def on_reply(c, expect, v):
        counts[expect[0]] += 1
        if isinstance(v, Reader.Err):
            errors[v.split(" ", 1)[0] + ": " + v[:90]] += 1
            return
        if expect[0] == "W":
            if v == "OK":
                acked.append((expect[1], expect[2], time.time()))
            else:
                errors[f"unexpected reply to SET: {v!r}"[:100]] += 1
        elif expect[0] == "MGET" and (not isinstance(v, list) or len(v) != expect[1]):
            errors[f"bad MGET reply {v!r}"[:100]] += 1
        elif expect[0] == "PING" and v != "PONG":
            errors[f"bad PING reply {v!r}"[:100]] += 1

    def take(c, data):
        """Bytes from the proxy: every complete reply answers the oldest request sent."""
        c.r.feed(data)
        while True:
            ok, v = c.r.pop()
            if not ok:
                break
            on_reply(c, c.pending.popleft(), v)

    closed = collections.Counter()
    faults = Faults(cluster, a.fault_interval, stop)
    faults.start()
    t_start = time.time()
    for w in writers:
        writer_next(w)
    last_rss = 0
    while time.time() - t_start < a.duration:
        now = time.time()
        for key, ev in sel.select(timeout=0.01):
            c = key.data
            if ev & selectors.EVENT_WRITE and c.out:
                try:
                    n = c.s.send(c.out)
                    c.out = c.out[n:]
                except BlockingIOError:
                    pass
                if not c.out:
                    sel.modify(c.s, selectors.EVENT_READ, c)
            if ev & selectors.EVENT_READ:
                try:
                    data = c.s.recv(65536)
                except BlockingIOError:
                    continue
                except ConnectionResetError:
                    data = b""
                if not data:
                    closed[c.kind] += 1
                    sel.unregister(c.s)
                    c.s.close()
                    c.dead = True
                    errors[f"connection closed by the proxy ({c.kind})"] += 1
                    continue
                take(c, data)
                if c.kind == "writer" and not c.pending:
                    writer_next(c)
        # Mixed traffic: connections whose think time is over and that wait for nothing.
        for c in random.sample(conns, min(len(conns), 200)):
            if getattr(c, "dead", False) or c.pending or c.next_at > now:
                continue
            req = mix_request(c)
            send(c, req[0], req[1])
            for extra in req[2:]:
                c.pending.append(extra)
            c.next_at = now + random.uniform(0, 2 * think)
        if now - last_rss > 0.2:
            peak[0] = max(peak[0], rss(a.pid))
            last_rss = now
    stop.set()
    faults.join()
    # Let the writers' last requests finish.
    drain_end = time.time() + 10
    while time.time() < drain_end and any(w.pending for w in writers if not getattr(w, "dead", 0)):
        for key, ev in sel.select(timeout=0.1):
            c = key.data
            try:
                data = c.s.recv(65536)
            except (BlockingIOError, ConnectionResetError):
                continue
            if not data:
                sel.unregister(c.s)
                c.dead = True
                continue
            take(c, data)
    for c in conns + writers:
        if not getattr(c, "dead", False):
            sel.unregister(c.s)
            c.s.close()

    # Every acknowledged write must be there (reading through the proxy once the cluster is ok).
    end = time.time() + 30
    while time.time() < end and not cluster.healthy():
        time.sleep(0.5)
    s = socket.create_connection(("127.0.0.1", a.port))
    lost, lost_in_kill = [], []
    for i in range(0, len(acked), 1000):
        batch = acked[i:i + 1000]
        s.sendall(b"".join(resp("GET", k) for k, _, _ in batch))
        r = Reader()
        got = []
        while len(got) < len(batch):
            r.feed(s.recv(1 << 20))
            while True:
                ok, v = r.pop()
                if not ok:
                    break
                got.append(v)
        for (k, val, t), v in zip(batch, got):
            if v != str(val).encode():
                in_kill = any(f <= t <= to for f, to in faults.kill_windows)
                (lost_in_kill if in_kill else lost).append((k, val, v))
    s.close()

    total = sum(counts.values())
    print(f"- {a.duration:.0f} s, {a.conns} mixed connections (~{a.rate:.0f} requests/s) + "
          f"{a.writers} writers; {total} replies in all ({total / a.duration:.0f}/s)")
    print(f"- faults ({len(faults.log)}):")
    for t, text in faults.log:
        print(f"  - {t - t_start:6.1f} s: {text}")
    print(f"- acknowledged writes: {len(acked)}; **lost: {len(lost)}** outside SIGKILL windows, "
          f"{len(lost_in_kill)} inside them (acknowledged by a master in the second before it was "
          f"killed; Redis replicates asynchronously)")
    for k, val, v in lost[:10]:
        print(f"  - lost: {k} = {val}, read back {v!r}")
    print(f"- errors by type ({sum(errors.values())} in all, "
          f"{100.0 * sum(errors.values()) / max(total, 1):.3f}% of replies):")
    for e, n in errors.most_common(12):
        print(f"  - {n} x `{e}`")
    print(f"- connections closed by the proxy: {dict(closed) or 0}")
    print(f"- proxy peak resident memory: {peak[0] / 1048576:.1f} MiB; "
          f"at the end: {rss(a.pid) / 1048576:.1f} MiB")


if __name__ == "__main__":
    main()
