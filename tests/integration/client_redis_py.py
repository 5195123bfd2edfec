#!/usr/bin/python3
"""redis-py through slotproxy, as an application would use it.

Run by the "pyclient" integration suite (test_pyclient.c) as
    /usr/bin/python3 client_redis_py.py PROXY_PORT
against the shared proxy in front of the test cluster. Every result is checked with an assert;
the exit status is 0 only when all of them held, and the last line printed is
"redis-py: all checks passed". It uses Debian's python3-redis (4.x): a plain redis.Redis client
(not RedisCluster) for the main part, since the proxy looks like one server, then a short
RedisCluster part, since the proxy also answers CLUSTER SLOTS as a one-node cluster.
Transactions are not supported by the proxy yet, so pipelines use transaction=False.

With PX_TLS_DIR set (the "tls" suite), every connection is TLS, with DIR/ca.crt to verify the
proxy and DIR/client.crt, DIR/client.key as the client's certificate: the same checks, over TLS.
"""
import os
import random
import sys
import time

import redis
import redis.cluster

PREFIX = "py:"

# The TLS options of every client made here; empty for plain TCP.
_tls_dir = os.environ.get("PX_TLS_DIR")
TLS = dict(ssl=True, ssl_ca_certs=f"{_tls_dir}/ca.crt", ssl_certfile=f"{_tls_dir}/client.crt",
           ssl_keyfile=f"{_tls_dir}/client.key") if _tls_dir else {}


def step(name):
    print(f"-- {name}", flush=True)


def check_connection(r, port):
    step("connection: client_name, HELLO 2, PING, ECHO")
    assert r.ping() is True
    assert r.client_getname() == "pytest", r.client_getname()
    hello = r.execute_command("HELLO", 2)
    # Without a response callback for HELLO, redis-py returns the flat RESP2 array.
    fields = dict(zip(hello[0::2], hello[1::2]))
    assert fields["server"] == "redis", fields
    assert fields["proto"] == 2, fields
    assert fields["version"].count(".") == 2, fields
    assert r.echo("hello proxy") == "hello proxy"
    assert r.echo("") == ""
    # The name set on connect belongs to the connection, whatever HELLO did.
    assert r.client_getname() == "pytest"
    other = redis.Redis(host="127.0.0.1", port=port, client_name="second", decode_responses=True,
                        **TLS)
    assert other.client_getname() == "second"
    assert r.client_getname() == "pytest"
    other.close()
    assert r.client_info()["name"] == "pytest"
    assert isinstance(r.client_id(), int) and r.client_id() > 0
    seconds, micros = r.time()
    assert abs(seconds - time.time()) < 5 and 0 <= micros < 1000000
    assert r.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
    # Transactions: redis-py's default pipeline is MULTI/EXEC; keys share a slot.
    pipe = r.pipeline(transaction=True)
    pipe.set("{tx}a", "1").incr("{tx}a").get("{tx}a").ping()
    assert pipe.execute() == [True, 2, "2", True]
    # Keys in two slots: Redis Cluster's CROSSSLOT while queuing, then EXECABORT.
    pipe = r.pipeline(transaction=True)
    pipe.set("{tx}a", "5").set("{other}b", "6")
    try:
        pipe.execute()
        raise AssertionError("a cross-slot transaction did not fail")
    except redis.ResponseError as e:
        assert "CROSSSLOT" in str(e) or "EXECABORT" in str(e), e
    assert r.get("{tx}a") == "2"  # nothing of it ran
    # WATCH: a check-and-set with redis-py's transaction helper.
    def incr_by_two(p):
        v = int(p.get("{tx}a"))
        p.multi()
        p.set("{tx}a", v + 2)
    r.transaction(incr_by_two, "{tx}a")
    assert r.get("{tx}a") == "4"
    assert r.ping() is True


def check_pipeline(r):
    step("pipeline(transaction=False): 4,000 mixed commands over many slots")
    pipe = r.pipeline(transaction=False)
    want = []
    counters, lists, hashes, sets = {}, {}, {}, {}
    strings = {}
    for i in range(4000):
        op = i % 10
        if op == 0:
            k = f"{PREFIX}s:{i}"
            pipe.set(k, f"v{i}")
            strings[k] = f"v{i}"
            want.append(True)
        elif op == 1:
            k = f"{PREFIX}s:{i - 1}"
            pipe.get(k)
            want.append(strings[k])
        elif op == 2:
            k = f"{PREFIX}c:{i % 97}"
            counters[k] = counters.get(k, 0) + i
            pipe.incrby(k, i)
            want.append(counters[k])
        elif op == 3:
            k = f"{PREFIX}l:{i % 13}"
            lists.setdefault(k, []).append(str(i))
            pipe.rpush(k, i)
            want.append(len(lists[k]))
        elif op == 4:
            k = f"{PREFIX}h:{i % 29}"
            hashes.setdefault(k, {})[f"f{i}"] = str(i)
            pipe.hset(k, f"f{i}", i)
            want.append(1)
        elif op == 5:
            pipe.get(f"{PREFIX}missing:{i}")
            want.append(None)
        elif op == 6:
            keys = [f"{PREFIX}s:{i - 6}", f"{PREFIX}missing:{i}", f"{PREFIX}s:{i - 16}"]
            pipe.mget(keys)
            want.append([strings.get(k) for k in keys])
        elif op == 7:
            k = f"{PREFIX}set:{i % 31}"
            added = 0 if str(i % 50) in sets.get(k, set()) else 1
            sets.setdefault(k, set()).add(str(i % 50))
            pipe.sadd(k, i % 50)
            want.append(added)
        elif op == 8:
            keys = [f"{PREFIX}s:{i - 8}", f"{PREFIX}c:{i % 97}", f"{PREFIX}nope:{i}"]
            pipe.exists(*keys)
            want.append(sum(1 for k in keys if k in strings or k in counters))
        else:
            k = f"{PREFIX}s:{i - 9}"
            pipe.strlen(k)
            want.append(len(strings[k]))
    got = pipe.execute()
    assert len(got) == len(want), (len(got), len(want))
    for i, (g, w) in enumerate(zip(got, want)):
        assert g == w, f"pipeline reply {i}: got {g!r}, want {w!r}"
    # The state the pipeline left behind, read back with single commands.
    for k, items in lists.items():
        assert r.lrange(k, 0, -1) == items, k
    for k, fields in hashes.items():
        assert r.hgetall(k) == fields, k
    for k, members in sets.items():
        assert r.smembers(k) == members, k
    for k, v in counters.items():
        assert r.get(k) == str(v), k
    # An empty pipeline and one with an error in the middle.
    assert r.pipeline(transaction=False).execute() == []
    pipe = r.pipeline(transaction=False)
    pipe.set(f"{PREFIX}pe:1", "x")
    pipe.incr(f"{PREFIX}pe:1")
    pipe.get(f"{PREFIX}pe:1")
    got = pipe.execute(raise_on_error=False)
    assert got[0] is True and got[2] == "x", got
    assert isinstance(got[1], redis.ResponseError), got
    assert "not an integer" in str(got[1]), got


def check_multikey(r):
    step("MSET/MGET/DEL/EXISTS/UNLINK over 600 keys")
    data = {f"{PREFIX}m:{i}": f"value-{i * i}" for i in range(600)}
    assert r.mset(data) is True
    keys = list(data)
    random.Random(5).shuffle(keys)
    probe = keys[:300] + [f"{PREFIX}m:none:{i}" for i in range(20)] + keys[:5]
    assert r.mget(probe) == [data.get(k) for k in probe]
    assert r.exists(*keys) == 600
    assert r.exists(*(keys[:10] + keys[:10])) == 20
    assert r.touch(*keys[:50]) == 50
    assert r.delete(*keys[:200]) == 200
    assert r.unlink(*keys[:300]) == 100
    assert r.exists(*keys) == 300
    assert r.mget(keys[:3]) == [None, None, None]
    assert r.msetnx({"{py}a": "1", "{py}b": "2"}) is True
    assert r.msetnx({"{py}b": "3", "{py}c": "4"}) is False
    assert r.mget("{py}a", "{py}b", "{py}c") == ["1", "2", None]


def check_scan(r):
    step("scan_iter over 10,000 keys")
    pipe = r.pipeline(transaction=False)
    want = set()
    for i in range(10000):
        k = f"{PREFIX}scan:{i}"
        want.add(k)
        pipe.set(k, i)
        if len(pipe) == 1000:
            assert all(x is True for x in pipe.execute())
    assert all(x is True for x in pipe.execute())
    seen = set()
    returned = 0
    for k in r.scan_iter(match=f"{PREFIX}scan:*", count=500):
        assert k.startswith(f"{PREFIX}scan:"), k
        seen.add(k)
        returned += 1
    missing = want - seen
    assert not missing, f"{len(missing)} keys never returned, e.g. {sorted(missing)[:5]}"
    assert seen == want
    assert returned >= 10000
    # With a small COUNT and a MATCH that few keys meet, and with a TYPE filter.
    assert set(r.scan_iter(match=f"{PREFIX}scan:99*", count=10)) == {
        k for k in want if k.startswith(f"{PREFIX}scan:99")
    }
    assert list(r.scan_iter(match=f"{PREFIX}scan:*", _type="list", count=1000)) == []
    assert r.dbsize() >= 10000


def check_scripts(r):
    step("scripts: register_script (EVALSHA with NOSCRIPT fallback), eval")
    r.script_flush()
    script = r.register_script("return {KEYS[1], ARGV[1], redis.call('INCR', KEYS[1])}")
    assert r.script_exists(script.sha) == [False]
    # The first call gets NOSCRIPT, loads the script and calls again.
    assert script(keys=[f"{PREFIX}sc:1"], args=["a"]) == [f"{PREFIX}sc:1", "a", 1]
    assert r.script_exists(script.sha) == [True]
    for i in range(2, 50):
        assert script(keys=[f"{PREFIX}sc:{i}"], args=[i]) == [f"{PREFIX}sc:{i}", str(i), 1]
    # In a pipeline the library checks SCRIPT EXISTS and loads before EVALSHA.
    r.script_flush()
    pipe = r.pipeline(transaction=False)
    for i in range(20):
        script(keys=[f"{PREFIX}sc:{i}"], args=["p"], client=pipe)
    got = pipe.execute()
    assert got == [[f"{PREFIX}sc:{i}", "p", 1 if i == 0 else 2] for i in range(20)], got
    assert r.eval("return redis.call('INCRBY', KEYS[1], ARGV[1])", 1, f"{PREFIX}e", 5) == 5
    assert r.eval("return redis.call('INCRBY', KEYS[1], ARGV[1])", 1, f"{PREFIX}e", 5) == 10
    assert r.eval("return {1, 'two', 3.5}", 0) == [1, "two", 3]
    sha = r.script_load("return ARGV[1] .. '!'")
    assert r.evalsha(sha, 0, "hi") == "hi!"
    try:
        r.eval("return redis.call('INCR', KEYS[1])", 1, f"{PREFIX}s:0")
        raise AssertionError("INCR of a string in a script did not fail")
    except redis.ResponseError as e:
        assert "not an integer" in str(e), e
    try:
        r.evalsha("f" * 40, 0)
        raise AssertionError("EVALSHA of an unknown script did not fail")
    except redis.exceptions.NoScriptError:
        pass


def check_types(r):
    step("hashes, lists, sorted sets through the library's helpers")
    h = f"{PREFIX}hash"
    assert r.hset(h, mapping={"name": "proxy", "lang": "C", "n": 1}) == 3
    assert r.hset(h, "extra", "x") == 1
    assert r.hgetall(h) == {"name": "proxy", "lang": "C", "n": "1", "extra": "x"}
    assert r.hget(h, "lang") == "C"
    assert r.hmget(h, ["name", "nope", "n"]) == ["proxy", None, "1"]
    assert r.hincrby(h, "n", 41) == 42
    assert r.hincrbyfloat(h, "f", 1.5) == 1.5
    assert r.hexists(h, "name") is True
    assert r.hexists(h, "nope") is False
    assert r.hdel(h, "extra", "nope") == 1
    assert r.hlen(h) == 4
    assert sorted(r.hkeys(h)) == ["f", "lang", "n", "name"]
    assert sorted(r.hvals(h)) == ["1.5", "42", "C", "proxy"]
    assert r.hstrlen(h, "name") == 5
    assert r.hsetnx(h, "name", "other") == 0

    lst = f"{PREFIX}list"
    assert r.rpush(lst, "b", "c", "d") == 3
    assert r.lpush(lst, "a") == 4
    assert r.lrange(lst, 0, -1) == ["a", "b", "c", "d"]
    assert r.linsert(lst, "BEFORE", "c", "bc") == 5
    assert r.lindex(lst, 2) == "bc"
    assert r.lpos(lst, "d") == 4
    assert r.lrem(lst, 0, "bc") == 1
    assert r.lset(lst, 0, "A") is True
    assert r.ltrim(lst, 0, 2) is True
    assert r.llen(lst) == 3
    assert r.lpop(lst) == "A"
    assert r.rpop(lst) == "c"
    assert r.lmove(f"{{{lst}}}:src", f"{{{lst}}}:dst") is None
    assert r.rpush(f"{{{lst}}}:src", "x", "y") == 2
    assert r.lmove(f"{{{lst}}}:src", f"{{{lst}}}:dst", "LEFT", "RIGHT") == "x"
    assert r.lrange(f"{{{lst}}}:dst", 0, -1) == ["x"]

    z = f"{PREFIX}zset"
    assert r.zadd(z, {"a": 1, "b": 2.5, "c": 3}) == 3
    assert r.zadd(z, {"a": 10}, xx=True, ch=True) == 1
    assert r.zadd(z, {"d": 4}, nx=True) == 1
    assert r.zrange(z, 0, -1) == ["b", "c", "d", "a"]
    assert r.zrange(z, 0, 1, withscores=True) == [("b", 2.5), ("c", 3.0)]
    assert r.zrangebyscore(z, 3, "+inf") == ["c", "d", "a"]
    assert r.zrevrange(z, 0, 0, withscores=True) == [("a", 10.0)]
    assert r.zincrby(z, 0.5, "b") == 3.0
    assert r.zscore(z, "b") == 3.0
    assert r.zscore(z, "nope") is None
    assert r.zmscore(z, ["a", "nope"]) == [10.0, None]
    assert r.zrank(z, "d") == 2
    assert r.zcard(z) == 4
    assert r.zcount(z, 3, 4) == 3
    assert r.zpopmin(z) == [("b", 3.0)]
    assert r.zrem(z, "c", "nope") == 1
    assert r.zrange(z, 0, -1, withscores=True) == [("d", 4.0), ("a", 10.0)]

    s = f"{PREFIX}set"
    assert r.sadd(s, "x", "y", "z") == 3
    assert r.smembers(s) == {"x", "y", "z"}
    assert r.sismember(s, "y") is True
    assert r.smismember(s, ["x", "q"]) == [True, False]
    assert r.scard(s) == 3

    assert r.set(f"{PREFIX}ttl", "v", ex=100) is True
    assert 95 <= r.ttl(f"{PREFIX}ttl") <= 100
    assert r.persist(f"{PREFIX}ttl") is True
    assert r.ttl(f"{PREFIX}ttl") == -1
    assert r.type(h) == "hash" and r.type(z) == "zset" and r.type(s) == "set"
    assert r.incrbyfloat(f"{PREFIX}float", 2.5) == 2.5
    try:
        r.lpush(h, "x")
        raise AssertionError("LPUSH on a hash did not fail")
    except redis.ResponseError as e:
        assert str(e).startswith("WRONGTYPE"), e


def check_binary(port):
    step("binary values with decode_responses=False")
    rb = redis.Redis(host="127.0.0.1", port=port, client_name="pytest-bin", decode_responses=False,
                     **TLS)
    values = {f"{PREFIX}bin:{n}".encode(): bytes((i * 7 + n) % 256 for i in range(n))
              for n in (0, 1, 2, 100, 16384, 100000)}
    assert rb.mset(values) is True
    assert rb.mget(list(values)) == list(values.values())
    for k, v in values.items():
        assert rb.get(k) == v
    assert rb.client_getname() == "pytest-bin"  # the library decodes this one itself
    rb.close()


def check_server(r):
    step("dbsize, info, flushdb")
    n = r.dbsize()
    assert n > 10000, n
    info = r.info()
    assert isinstance(info, dict)
    assert "redis_version" in info, sorted(info)[:20]
    assert info["redis_version"].count(".") == 2, info["redis_version"]
    assert "db0" in info, sorted(info)
    assert info["db0"]["keys"] == n, (info["db0"], n)
    keyspace = r.info("keyspace")
    assert keyspace["db0"]["keys"] == n, keyspace
    assert r.flushdb() is True
    assert r.dbsize() == 0
    assert r.get(f"{PREFIX}s:0") is None
    assert "db0" not in r.info("keyspace")


def check_cluster_client(port):
    step("RedisCluster pointed at the proxy")
    rc = redis.cluster.RedisCluster(host="127.0.0.1", port=port, decode_responses=True, **TLS)
    nodes = rc.get_nodes()
    assert len(nodes) == 1, nodes
    assert nodes[0].port == port, nodes[0]
    for i in range(300):
        assert rc.set(f"{PREFIX}rc:{i}", f"c{i}") is True
    for i in range(300):
        assert rc.get(f"{PREFIX}rc:{i}") == f"c{i}"
    keys = [f"{PREFIX}rc:{i}" for i in range(0, 300, 3)] + [f"{PREFIX}rc:none"]
    assert rc.mget_nonatomic(keys) == [f"c{i}" for i in range(0, 300, 3)] + [None]
    # A plain MGET is sent as one command when the keys share a slot.
    assert rc.mset_nonatomic({"{rc}a": "1", "{rc}b": "2", f"{PREFIX}rc:x": "3"}) == [True, True]
    assert rc.mget("{rc}a", "{rc}b", "{rc}c") == ["1", "2", None]
    assert rc.incr(f"{PREFIX}rc:n") == 1
    assert rc.delete(f"{PREFIX}rc:0") == 1
    assert rc.exists(f"{PREFIX}rc:0") == 0
    pipe = rc.pipeline()
    for i in range(100):
        pipe.get(f"{PREFIX}rc:{i + 1}")
    assert pipe.execute() == [f"c{i + 1}" for i in range(100)]
    assert rc.dbsize() >= 300
    rc.close()


def main():
    if len(sys.argv) != 2:
        print("usage: client_redis_py.py PROXY_PORT", file=sys.stderr)
        return 2
    port = int(sys.argv[1])
    started = time.monotonic()
    r = redis.Redis(host="127.0.0.1", port=port, client_name="pytest", decode_responses=True,
                    socket_timeout=20, **TLS)
    assert r.flushdb() is True
    check_connection(r, port)
    check_pipeline(r)
    check_multikey(r)
    check_scan(r)
    check_scripts(r)
    check_types(r)
    check_binary(port)
    check_server(r)
    check_cluster_client(port)
    assert r.flushdb() is True
    r.close()
    print(f"redis-py {redis.__version__}{' over TLS' if TLS else ''}: "
          f"{time.monotonic() - started:.1f} s")
    print("redis-py: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
