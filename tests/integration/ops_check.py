#!/usr/bin/python3
"""Checks for the debug port's JSON documents, run by test_ops.c.

  ops_check.py json FILE...                 every file is one valid JSON document
  ops_check.py slots FILE CLUSTER_PORT      /debug/slots (saved in FILE) describes the same
                                            slot ranges, masters and replicas as CLUSTER SHARDS
                                            on the node at CLUSTER_PORT
  ops_check.py field FILE PATH              prints the value at a dotted PATH (a.b.0.c)

Exit status 0 when the check holds; otherwise the difference is printed and the status is 1.
"""
import json
import sys

import redis


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def pairs(flat):
    """A RESP2 map (a flat key/value list) as a dict; already a dict in newer redis-py."""
    if isinstance(flat, dict):
        return {k.decode() if isinstance(k, bytes) else k: v for k, v in flat.items()}
    out = {}
    for i in range(0, len(flat), 2):
        k = flat[i]
        out[k.decode() if isinstance(k, bytes) else k] = flat[i + 1]
    return out


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def cluster_view(port):
    """{(from, to): (master "ip:port", sorted replica "ip:port"s)} from CLUSTER SHARDS."""
    r = redis.Redis(host="127.0.0.1", port=port)
    view = {}
    for shard in r.execute_command("CLUSTER", "SHARDS"):
        s = pairs(shard)
        nodes = [pairs(n) for n in s["nodes"]]
        master = [n for n in nodes if text(n["role"]) == "master"]
        if len(master) != 1:
            raise SystemExit("CLUSTER SHARDS: a shard without exactly one master: %r" % s)
        addr = lambda n: "%s:%s" % (text(n["ip"]), text(n["port"]))
        replicas = sorted(addr(n) for n in nodes if text(n["role"]) != "master")
        slots = [int(x) for x in s["slots"]]
        for i in range(0, len(slots), 2):
            view[(slots[i], slots[i + 1])] = (addr(master[0]), replicas)
    return view


def merge_adjacent(view):
    """Ranges next to each other with the same nodes, joined (either side may split them)."""
    out = []
    for (lo, hi), v in sorted(view.items()):
        if out and out[-1][1] + 1 == lo and out[-1][2] == v:
            out[-1] = (out[-1][0], hi, v)
        else:
            out.append((lo, hi, v))
    return out


def check_slots(path, port):
    doc = load(path)
    mine = {}
    for rg in doc["ranges"]:
        mine[(rg["from"], rg["to"])] = (rg["master"]["addr"],
                                        sorted(x["addr"] for x in rg["replicas"]))
    served = sum(hi - lo + 1 for lo, hi in mine)
    if served != doc["slots_served"]:
        print("slots_served %d but the ranges add up to %d" % (doc["slots_served"], served))
        return 1
    if doc["version"] < 1 or doc["fetched_unix_ms"] <= 0 or not doc["source"]:
        print("version/fetched_unix_ms/source missing: %r" % {k: doc.get(k) for k in
                                                               ("version", "fetched_unix_ms",
                                                                "source")})
        return 1
    a, b = merge_adjacent(mine), merge_adjacent(cluster_view(port))
    if a != b:
        print("/debug/slots:   %r" % a)
        print("CLUSTER SHARDS: %r" % b)
        return 1
    return 0


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "json":
        for p in sys.argv[2:]:
            try:
                load(p)
            except ValueError as e:
                print("%s: not valid JSON: %s" % (p, e))
                return 1
        return 0
    if len(sys.argv) == 4 and sys.argv[1] == "slots":
        return check_slots(sys.argv[2], int(sys.argv[3]))
    if len(sys.argv) == 4 and sys.argv[1] == "field":
        v = load(sys.argv[2])
        for part in sys.argv[3].split("."):
            v = v[int(part)] if isinstance(v, list) else v[part]
        print(json.dumps(v) if isinstance(v, (dict, list)) else v)
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
