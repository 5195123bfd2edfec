#!/usr/bin/python3
"""Generate proxy/command_table.c from a live redis-server's COMMAND reply.

Usage: proxy/gen_command_table.py [PORT]

With a PORT, asks the redis-server listening there on 127.0.0.1. Without one, starts a
throwaway redis-server on a free port, asks it, and stops it. The output is Redis's own metadata
(arity, flags, tips, ACL categories, key specifications, subcommands) as C data; the proxy's
routing decisions are a separate hand-written overlay in commands.c.
"""
import os
import socket
import subprocess
import sys
import tempfile
import time


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buf = b""

    def _fill(self):
        d = self.s.recv(1 << 16)
        if not d:
            raise EOFError
        self.buf += d

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        d, self.buf = self.buf[:n], self.buf[n + 2:]
        return d

    def read(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RuntimeError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n).decode("latin1")
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise ValueError(line)

    def cmd(self, *args):
        out = "*%d\r\n" % len(args)
        for a in args:
            a = str(a)
            out += "$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out.encode())
        return self.read()


FLAGS = {
    "write": "CMD_WRITE", "readonly": "CMD_READONLY", "denyoom": "CMD_DENYOOM",
    "admin": "CMD_ADMIN", "pubsub": "CMD_PUBSUB", "noscript": "CMD_NOSCRIPT",
    "blocking": "CMD_BLOCKING", "loading": "CMD_LOADING", "stale": "CMD_STALE",
    "skip_monitor": "CMD_SKIP_MONITOR", "skip_slowlog": "CMD_SKIP_SLOWLOG",
    "asking": "CMD_ASKING", "fast": "CMD_FAST", "no_auth": "CMD_NO_AUTH",
    "may_replicate": "CMD_MAY_REPLICATE", "no_mandatory_keys": "CMD_NO_MANDATORY_KEYS",
    "no_async_loading": "CMD_NO_ASYNC_LOADING", "no_multi": "CMD_NO_MULTI",
    "movablekeys": "CMD_MOVABLEKEYS", "allow_busy": "CMD_ALLOW_BUSY",
}
TIPS = {
    "nondeterministic_output": "CMD_TIP_NONDETERMINISTIC",
    "nondeterministic_output_order": "CMD_TIP_NONDETERMINISTIC_ORDER",
    "request_policy:all_nodes": "CMD_REQ_ALL_NODES",
    "request_policy:all_shards": "CMD_REQ_ALL_SHARDS",
    "request_policy:multi_shard": "CMD_REQ_MULTI_SHARD",
    "request_policy:special": "CMD_REQ_SPECIAL",
    "response_policy:one_succeeded": "CMD_RESP_ONE_SUCCEEDED",
    "response_policy:all_succeeded": "CMD_RESP_ALL_SUCCEEDED",
    "response_policy:agg_logical_and": "CMD_RESP_AGG_LOGICAL_AND",
    "response_policy:agg_logical_or": "CMD_RESP_AGG_LOGICAL_OR",
    "response_policy:agg_min": "CMD_RESP_AGG_MIN",
    "response_policy:agg_max": "CMD_RESP_AGG_MAX",
    "response_policy:agg_sum": "CMD_RESP_AGG_SUM",
    "response_policy:special": "CMD_RESP_SPECIAL",
}
# Redis's ACL categories (acl.c's ACLCommandCategories, in its order).
ACLCATS = ["keyspace", "read", "write", "set", "sortedset", "list", "hash", "string", "bitmap",
           "hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow", "blocking",
           "dangerous", "connection", "transaction", "scripting"]
ACLCAT_C = {"@" + n: "ACL_CAT_" + n.upper() for n in ACLCATS}
KSFLAGS = {
    "RO": "KSF_RO", "RW": "KSF_RW", "OW": "KSF_OW", "RM": "KSF_RM", "access": "KSF_ACCESS",
    "update": "KSF_UPDATE", "insert": "KSF_INSERT", "delete": "KSF_DELETE",
    "not_key": "KSF_NOT_KEY", "incomplete": "KSF_INCOMPLETE",
    "variable_flags": "KSF_VARIABLE_FLAGS",
}


# Redis 7.0's COMMAND does not show the may_replicate flag; these are the commands its
# src/commands/*.json give it (CLIENT PAUSE WRITE holds them, as it holds writes).
MAY_REPLICATE = {"eval", "evalsha", "fcall", "pfcount", "publish", "spublish"}


def orflags(names, table, what):
    out = []
    for n in names:
        if n not in table:
            sys.exit("unknown %s %r: teach gen_command_table.py about it" % (what, n))
        out.append(table[n])
    return " | ".join(out) if out else "0"


def ident(name):
    return "".join(c if c.isalnum() else "_" for c in name)


def keyspec_c(ks):
    d = dict(zip(ks[0::2], ks[1::2]))
    flags = orflags(d["flags"], KSFLAGS, "key-spec flag")
    bs = d["begin_search"]
    bs = dict(zip(bs[0::2], bs[1::2]))
    bspec = dict(zip(bs["spec"][0::2], bs["spec"][1::2]))
    fk = d["find_keys"]
    fk = dict(zip(fk[0::2], fk[1::2]))
    fspec = dict(zip(fk["spec"][0::2], fk["spec"][1::2]))
    keyword = "NULL"
    pos = 0
    if bs["type"] == "index":
        begin, pos = "KS_BEGIN_INDEX", bspec["index"]
    elif bs["type"] == "keyword":
        begin, pos = "KS_BEGIN_KEYWORD", bspec["startfrom"]
        keyword = '"%s"' % bspec["keyword"]
    else:
        begin = "KS_BEGIN_UNKNOWN"
    if fk["type"] == "range":
        find = "KS_FIND_RANGE"
        a = (fspec["lastkey"], fspec["keystep"], fspec["limit"])
    elif fk["type"] == "keynum":
        find = "KS_FIND_KEYNUM"
        a = (fspec["keynumidx"], fspec["firstkey"], fspec["keystep"])
    else:
        find, a = "KS_FIND_UNKNOWN", (0, 0, 0)
    return "{%s, %s, %s, %d, %s, {%d, %d, %d}}" % (begin, find, flags, pos, keyword, *a)


def emit(cmds, out, version):
    defs = []

    def command_c(c):
        name, arity, flags, _first, _last, _step, acl, tips, specs = c[:9]
        if name in MAY_REPLICATE and "may_replicate" not in flags:
            flags = list(flags) + ["may_replicate"]
        subs = c[9] if len(c) > 9 and c[9] else []
        base = ident(name)
        ks_ref, sub_ref = "NULL", "NULL"
        if specs:
            defs.append("static const struct keyspec ks_%s[] = {\n    %s,\n};\n"
                        % (base, ",\n    ".join(keyspec_c(k) for k in specs)))
            ks_ref = "ks_%s" % base
        if subs:
            subs = sorted(subs, key=lambda s: s[0])
            rows = [command_c(s) for s in subs]
            defs.append("static const struct command subs_%s[] = {\n%s};\n"
                        % (base, "".join("    %s,\n" % r for r in rows)))
            sub_ref = "subs_%s" % base
        return '{"%s", %d, %s, %s, %d, %d, %s, %s, %s}' % (
            name, arity, orflags(flags, FLAGS, "flag"), orflags(tips, TIPS, "tip"),
            len(specs), len(subs), ks_ref, sub_ref, orflags(acl, ACLCAT_C, "ACL category"))

    cmds = sorted(cmds, key=lambda c: c[0])
    rows = [command_c(c) for c in cmds]
    out.write("/*\n * Generated by proxy/gen_command_table.py from the COMMAND reply of %s.\n"
              " * Do not edit by hand: run the script again.\n */\n" % version)
    out.write('#include "commands.h"\n\n')
    out.write("/* clang-format off */\n")
    for d in defs:
        out.write(d + "\n")
    out.write("const struct command command_table[] = {\n")
    for r in rows:
        out.write("    %s,\n" % r)
    out.write("};\n\n")
    out.write("const size_t command_table_len = %d;\n" % len(rows))
    out.write('const char command_table_source[] = "%s";\n' % version)
    out.write("/* clang-format on */\n")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def main():
    proc = None
    tmp = None
    if len(sys.argv) > 1:
        port = int(sys.argv[1])
    else:
        port = free_port()
        tmp = tempfile.mkdtemp()
        proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                                 "--save", "", "--dir", tmp],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                c = Conn(port)
                break
            except OSError:
                time.sleep(0.05)
        else:
            sys.exit("cannot reach redis-server on port %d" % port)
        info = c.cmd("INFO", "server")
        ver = [l.split(":", 1)[1] for l in info.split("\r\n") if l.startswith("redis_version:")]
        cmds = c.cmd("COMMAND")
    finally:
        if proc:
            proc.terminate()
            proc.wait()
        if tmp:
            for f in os.listdir(tmp):
                os.unlink(os.path.join(tmp, f))
            os.rmdir(tmp)
    dst = os.path.join(os.path.dirname(os.path.abspath(__file__)), "command_table.c")
    with open(dst, "w") as out:
        emit(cmds, out, "redis-server %s" % ver[0])
    print("wrote %s: %d commands from redis-server %s" % (dst, len(cmds), ver[0]))


if __name__ == "__main__":
    main()
