#!/usr/bin/env python3
"""Checks that every error text a client can see is written in proxy/errors.c and nowhere else.

In the source of net/, cluster/ and proxy/ (comments removed), outside proxy/errors.c, it fails on
  - a string literal that starts like a RESP error line ("-ERR ...", "-NOAUTH ...");
  - in proxy/, a string literal that starts with an error code and a space ("ERR syntax ...",
    "CLUSTERDOWN ..."), the way resp_write_errorf is called;
  - a call of resp_write_error or resp_write_errorf (only errors.c renders errors);
  - a literal holding Redis's "Protocol error" text.
Parsing what nodes send (cluster/redirect.c reads "MOVED ", net/resp_reply.c classifies error
codes) is reading, not writing: those files are left out of the code-word rule only.

Usage: tests/check_errors.py [--root DIR]. Exit status 0 when clean, 1 naming each offender.
"""
import argparse
import os
import re
import sys

CODES = ("ERR|WRONGTYPE|CROSSSLOT|CLUSTERDOWN|NOAUTH|WRONGPASS|NOPROTO|EXECABORT|DENIED|NOPERM|"
         "NOSCRIPT|BUSY|LOADING|READONLY|TRYAGAIN|MASTERDOWN|OOM|MOVED|ASK|NOTBUSY|UNBLOCKED|"
         "NOREPLICAS|MISCONF|BUSYKEY|NOGROUP")
# A quote that opens a literal (not an escaped quote inside one, as help texts quote replies).
DASH_RE = re.compile(r'(?<!\\)"-[A-Z]{2,}')
CODE_RE = re.compile(r'(?<!\\)"(?:' + CODES + r') ')
CALL_RE = re.compile(r"\bresp_write_error(?:f)?\s*\(")
PROTO_RE = re.compile(r'(?<!\\)"Protocol error')
ALLOWED_CALLS = {"proxy/errors.c", "net/resp_write.c", "net/resp_write.h"}
# Texts for operators, not clients, that start with an error code: Prometheus help lines.
OPERATOR_TEXTS = {"proxy/metrics.c"}


def strip_comments(text):
    def blank(m):
        return re.sub(r"[^\n]", " ", m.group(0))
    # Strings first, so that a comment marker inside a string is not taken for a comment.
    out, i, n = [], 0, len(text)
    while i < n:
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text[i] in "\"'":
            q, j = text[i], i + 1
            while j < n and text[j] != q:
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def main():
    ap = argparse.ArgumentParser(description="error texts live in proxy/errors.c")
    ap.add_argument("--root", default=os.path.join(os.path.dirname(__file__), ".."))
    args = ap.parse_args()
    root = os.path.abspath(args.root)
    bad = []
    for folder in ("net", "cluster", "proxy"):
        for name in sorted(os.listdir(os.path.join(root, folder))):
            if not name.endswith((".c", ".h")):
                continue
            rel = f"{folder}/{name}"
            if rel == "proxy/errors.c":
                continue
            with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
                text = strip_comments(f.read())
            for lineno, line in enumerate(text.split("\n"), 1):
                why = None
                if DASH_RE.search(line):
                    why = "an error reply literal"
                elif folder == "proxy" and rel not in OPERATOR_TEXTS and CODE_RE.search(line):
                    why = "an error text literal"
                elif rel not in ALLOWED_CALLS and CALL_RE.search(line):
                    why = "an error written outside errors.c"
                elif PROTO_RE.search(line):
                    why = "a protocol error text"
                if why:
                    bad.append(f"{rel}:{lineno}: {why}: {line.strip()}")
    if bad:
        for b in bad:
            print(f"check_errors: {b}", file=sys.stderr)
        print(f"check_errors: FAILED: {len(bad)} error text(s) outside proxy/errors.c",
              file=sys.stderr)
        return 1
    print("check_errors: ok (every error text is in proxy/errors.c)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
