#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets: tests/fuzz/corpus/{req,reply}/.

Each seed is a small, meaningful input with the target's header bytes in front (see the comment
at the top of fuzz_resp_req.c and fuzz_resp_reply.c). Run it again after changing the seeds here;
it rewrites both folders. Regression inputs found by fuzzing live in the same folders under
names starting with "crash-" and are kept.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# Request seeds: (name, limits header, bytes). Header: mode byte, h[1], h[2], piece seed.
DEF = bytes([0, 0, 0, 7])           # the proxy's limits
SMALL = bytes([1 | (2 << 2), 16, 8, 3])  # max_args 2, inline_max 16, max_bulk 8
TINY_INLINE = bytes([2, 12, 0, 5])  # inline_max 12, other limits default
WIDE = bytes([3, 0, 0, 11])         # max_bulk and max_args LLONG_MAX, inline_max UINT32_MAX

REQ = [
    ("ping", DEF, b"*1\r\n$4\r\nPING\r\n"),
    ("set", DEF, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n"),
    ("pipeline", DEF, b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n*2\r\n$3\r\nGET\r\n$1\r\nb\r\nPING\r\n"
                      b"*3\r\n$4\r\nMGET\r\n$1\r\na\r\n$1\r\nb\r\n"),
    ("binary-arg", DEF, b"*2\r\n$4\r\nECHO\r\n$6\r\na\r\n\x00\xffz\r\n"),
    ("empty-arg", DEF, b"*2\r\n$4\r\nECHO\r\n$0\r\n\r\n"),
    ("inline", DEF, b"GET key\r\n"),
    ("inline-lf", DEF, b"SET k v\nGET k\n"),
    ("inline-dquote", DEF, b"SET k \"hello world\"\r\n"),
    ("inline-escapes", DEF, b"ECHO \"\\x41\\x4a\\n\\t\\r\\a\\b\\\\\\\"\"\r\n"),
    ("inline-squote", DEF, b"SET k 'it\\'s a \"test\"'\r\n"),
    ("inline-blank", DEF, b"\r\n  \t\n\x0b\x0c\nPING\n"),
    ("inline-vt-in-token", DEF, b"GET a\x0bb \x0cc\n"),
    ("inline-unbalanced", DEF, b"GET \"abc\n"),
    ("inline-quote-then-char", DEF, b"SET \"a\"b c\r\n"),
    ("inline-squote-unbalanced", DEF, b"GET 'abc\r\n"),
    ("inline-nul", DEF, b"GET a\x00b\nPING\n"),
    ("mbulk-zero", DEF, b"*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n"),
    ("mbulk-quirk-cr", DEF, b"*1\rX$3\rYabcZW"),
    ("mbulk-leading-zero", DEF, b"*01\r\n$4\r\nPING\r\n"),
    ("mbulk-plus", DEF, b"*+1\r\n$4\r\nPING\r\n"),
    ("mbulk-space", DEF, b"* 1\r\n"),
    ("mbulk-int-max", DEF, b"*2147483647\r\n$1\r\na\r\n"),
    ("mbulk-too-many", DEF, b"*2147483648\r\n"),
    ("mbulk-llong-max", DEF, b"*9223372036854775807\r\n"),
    ("mbulk-overflow", DEF, b"*9223372036854775808\r\n"),
    ("mbulk-no-cr", DEF, b"*1" + b"1" * 64),
    ("bulk-max", DEF, b"*1\r\n$536870912\r\n"),
    ("bulk-too-big", DEF, b"*1\r\n$536870913\r\n"),
    ("bulk-negative", DEF, b"*1\r\n$-1\r\n"),
    ("bulk-overflow", DEF, b"*1\r\n$9223372036854775808\r\n"),
    ("expected-dollar", DEF, b"*1\r\n:3\r\nabc\r\n"),
    ("expected-dollar-cr", DEF, b"*1\r\n\r\n"),
    ("bulk-nul-in-header", DEF, b"*1\r\n$3\x00\r\nabc\r\n"),
    ("bulk-nul-in-body", DEF, b"*1\r\n$3\r\na\x00c\r\n"),
    ("partial", DEF, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhel"),
    ("small-too-many-args", SMALL, b"*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"),
    ("small-bulk-too-big", SMALL, b"*1\r\n$9\r\n123456789\r\n"),
    ("small-bulk-max", SMALL, b"*2\r\n$8\r\n12345678\r\n$0\r\n\r\n"),
    ("small-inline-too-big", SMALL, b"GET aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"),
    ("small-mbulk-count-too-big", SMALL, b"*11111111111111111111111"),
    ("small-bulk-count-too-big", SMALL, b"*1\r\n$11111111111111111111111"),
    ("tiny-inline-long-header", TINY_INLINE, b"*0000000000000000000001\r\n"),
    ("tiny-inline-long-line", TINY_INLINE, b"ECHO 0123456789abcdef\n"),
    ("wide-need-overflow", WIDE, b"*1\r\n$4294967294\r\n"),
    ("wide-bulk-llong-max", WIDE, b"*1\r\n$9223372036854775807\r\nab"),
    ("wide-args", WIDE, b"*9223372036854775807\r\n$1\r\na\r\n$1\r\nb\r\n"),
]

# Reply seeds: (name, bytes); the header is [piece seed, spans for resp_reply_elements].
def nested(depth):
    return b"*1\r\n" * depth + b":1\r\n"

REPLY = [
    ("ok", b"+OK\r\n"),
    ("err", b"-ERR unknown command 'foo', with args beginning with: \r\n"),
    ("moved", b"-MOVED 3999 127.0.0.1:6381\r\n"),
    ("ask", b"-ASK 3999 127.0.0.1:6381\r\n"),
    ("other-errors", b"-TRYAGAIN Multiple keys request during rehashing of slot\r\n"
                     b"-CLUSTERDOWN Hash slot not served\r\n-LOADING Redis is loading\r\n"
                     b"-READONLY You can't write against a read only replica.\r\n"
                     b"-NOSCRIPT No matching script.\r\n-MASTERDOWN Link with MASTER is down\r\n"
                     b"-MOVED\r\n-ASKING\r\n"),
    ("int", b":1000\r\n:-1\r\n:0\r\n"),
    ("bulk", b"$5\r\nhello\r\n$0\r\n\r\n$-1\r\n"),
    ("bulk-binary", b"$4\r\n\r\n\x00\xff\r\n"),
    ("array-null", b"*-1\r\n*0\r\n"),
    ("array-nested", b"*2\r\n*2\r\n:1\r\n:2\r\n*3\r\n$1\r\na\r\n$-1\r\n+x\r\n"),
    ("cluster-slots", b"*1\r\n*4\r\n:0\r\n:5460\r\n*3\r\n$9\r\n127.0.0.1\r\n:7001\r\n"
                      b"$40\r\n0123456789012345678901234567890123456789\r\n"
                      b"*3\r\n$9\r\n127.0.0.1\r\n:7004\r\n$1\r\nx\r\n"),
    ("pipeline", b"+OK\r\n$3\r\nbar\r\n:1\r\n-MOVED 1 a:1\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n"),
    ("deep-30", nested(30)),
    ("deep-1024", nested(1024)),  # RESP_MAX_DEPTH: framed
    ("deep-1025", nested(1025)),  # one more: refused
    ("deep-attributes", b"|1\r\n" * 300 + b"+k\r\n+v\r\n" * 300 + b":1\r\n"),
    ("map", b"%2\r\n+a\r\n:1\r\n+b\r\n:2\r\n%0\r\n%-1\r\n"),
    ("set", b"~3\r\n+a\r\n+b\r\n+c\r\n~0\r\n"),
    ("attribute", b"|1\r\n+ttl\r\n:3600\r\n+OK\r\n"),
    ("attribute-nested", b"*2\r\n:1\r\n|1\r\n+ttl\r\n:3600\r\n:2\r\n"),
    ("attribute-empty", b"*1\r\n|0\r\n|1\r\n+a\r\n+b\r\n$1\r\nz\r\n"),
    ("attribute-in-attribute", b"|1\r\n+a\r\n|1\r\n+x\r\n+y\r\n+b\r\n:5\r\n"),
    ("push", b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"),
    ("bignum", b"(3492890328409238509324850943850943825024385\r\n"),
    ("verbatim", b"=15\r\ntxt:Some string\r\n"),
    ("null-double-bool", b"_\r\n,3.14\r\n,inf\r\n#t\r\n#f\r\n"),
    ("blob-error", b"!21\r\nSYNTAX invalid syntax\r\n"),
    ("resp3-mixed", b"*3\r\n%1\r\n+k\r\n~1\r\n_\r\n>1\r\n#t\r\n=7\r\ntxt:abc\r\n"),
    ("bad-trailer", b"$3\r\nfooXY"),
    ("bare-cr", b"+OK\rX\r\n"),
    ("bad-counts", b"*-2\r\n"),
    ("leading-zero", b"$01\r\na\r\n"),
    ("bad-type", b"*2\r\n:1\r\n@\r\n"),
    ("need-overflow", b"$4294967294\r\n"),
    ("bulk-llong-max", b"$9223372036854775807\r\n"),
    ("array-llong-max", b"*9223372036854775807\r\n:1\r\n"),
    ("map-overflow", b"%4611686018427387904\r\n"),
    ("partial", b"*3\r\n$3\r\nfoo\r\n:1\r"),
    ("hiredis-lenient", b"$+5\r\nhello\r\n:abc\r\n*1\r\n$1\r\nab\r\n"),
]


def write(folder, items):
    path = os.path.join(HERE, "corpus", folder)
    os.makedirs(path, exist_ok=True)
    for f in os.listdir(path):
        if not f.startswith("crash-"):
            os.remove(os.path.join(path, f))
    for name, data in items:
        with open(os.path.join(path, name), "wb") as f:
            f.write(data)


def main():
    write("req", [(n, h + b) for n, h, b in REQ])
    write("reply", [(n, bytes([i * 37 % 256, i % 8]) + b) for i, (n, b) in enumerate(REPLY)])
    print("req: %d seeds, reply: %d seeds" % (len(REQ), len(REPLY)), file=sys.stderr)


if __name__ == "__main__":
    main()
