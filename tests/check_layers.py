#!/usr/bin/env python3
"""Checks that the code's dependencies point one way: net/ -> cluster/ -> proxy/, and inside
proxy/ from the wiring down to the request model (proxy/README.md draws the layers).

A module is a .c file and the .h of the same name in the same folder (a `<name>_internal.h`
belongs to `<name>`, and a few implementation files belong to the module they implement: see
ALIASES). Two kinds of dependency are read from the source text, comments and strings removed:

  - includes: `#include "x.h"` makes the including module depend on x's module;
  - names: a file that names a function or global variable defined in another module (a call, or
    taking its address) depends on that module. A forward declaration is not a way out: the call
    is still a dependency.

It fails, naming the offender, when
  - a module of a lower layer depends on one of a higher layer (an include or a name pointing
    upward: the lower part must call back through a pointer it was given);
  - modules depend on each other round a circle, whatever their layers;
  - a source file of net/, cluster/ or proxy/ has no layer (add it to LAYERS).

Usage: tests/check_layers.py [--root DIR] [--stats]
  --stats also prints, per layer, the files, their lines and comment density, and the edges.
Exit status: 0 when the layering holds, 1 when it does not, 2 on a usage error.
"""
import argparse
import os
import re
import sys

# Layers, lowest first. A module may depend on modules of its own layer or below, never above.
LAYERS = [
    ("net", ["net/*"]),
    ("cluster", ["cluster/*"]),
    ("model", ["proxy/client", "proxy/request", "proxy/commands", "proxy/command_table",
               "proxy/keys", "proxy/errors", "proxy/stats", "proxy/strset", "proxy/scripts",
               "proxy/config", "proxy/client_limits", "proxy/client_dir", "proxy/slowlog",
               "proxy/pause", "proxy/busy", "proxy/monitor", "proxy/acl", "proxy/acl_store",
               "proxy/httpjson"]),
    ("routing", ["proxy/route", "proxy/view"]),
    ("executors", ["proxy/private", "proxy/forward", "proxy/fanout", "proxy/merge", "proxy/scan",
                   "proxy/info", "proxy/txn", "proxy/pubsub", "proxy/tracking", "proxy/admin",
                   "proxy/local", "proxy/aclcmd", "proxy/crossslot", "proxy/monfeed"]),
    ("session", ["proxy/dispatch", "proxy/session", "proxy/inner"]),
    ("wiring", ["proxy/worker", "proxy/acceptor", "proxy/metrics", "proxy/debug_http",
                "proxy/http", "proxy/main"]),
]

# Files that implement another module's header.
ALIASES = {"net/loop_epoll": "net/loop", "net/loop_uring": "net/loop",
           "proxy/command_table": "proxy/commands"}

FOLDERS = ["net", "cluster", "proxy"]
SEARCH = ["proxy", "cluster", "net"]  # where a quoted include is found (after the file's folder)


def strip_c(text):
    """The text with comments, string and character literals blanked (line breaks kept)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
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
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + re.sub(r"[^\n]", " ", text[i + 1:j]) + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def comment_lines(text):
    """How many lines carry a comment (for the density figure)."""
    lines = set()
    for m in re.finditer(r"/\*.*?\*/|//[^\n]*", text, re.S):
        first = text.count("\n", 0, m.start())
        last = first + m.group(0).count("\n")
        lines.update(range(first, last + 1))
    return len(lines)


def module_of(path):
    base = os.path.splitext(path)[0]
    if base.endswith("_internal"):
        base = base[: -len("_internal")]
    return ALIASES.get(base, base)


def layer_of(module):
    for idx, (_, pats) in enumerate(LAYERS):
        for p in pats:
            if p.endswith("/*") and module.startswith(p[:-1]):
                return idx
            if p == module:
                return idx
    return None


DEF_RE = re.compile(
    r"^(?!static\b)(?:extern\s+)?(?:const\s+)?(?:struct\s+|enum\s+|unsigned\s+|signed\s+)?"
    r"[A-Za-z_]\w*[\s\*]+(?:\w+[\s\*]+)*?([A-Za-z_]\w*)\s*\(([^;{}]|\n)*?\)\s*\{",
    re.M)
INLINE_RE = re.compile(r"^static\s+inline\s+[^;{(]*?\b([A-Za-z_]\w*)\s*\(", re.M)
VAR_RE = re.compile(r"^(?!static\b)(?!typedef\b)(?:const\s+)?(?:struct\s+\w+|[A-Za-z_]\w*)"
                    r"[\s\*]+(?:const\s+)?([A-Za-z_]\w*)\s*(?:\[[^\]]*\])?\s*=", re.M)
# Never named by another file: keywords the patterns may catch, and the entry point.
KEYWORDS = {"if", "for", "while", "switch", "return", "sizeof", "else", "main"}


def definitions(path, stripped):
    """Names of the functions and global variables a file defines for other files."""
    names = set()
    if path.endswith(".c"):
        for m in DEF_RE.finditer(stripped):
            names.add(m.group(1))
        for m in VAR_RE.finditer(stripped):
            names.add(m.group(1))
    else:
        for m in INLINE_RE.finditer(stripped):
            names.add(m.group(1))
    return names - KEYWORDS


def load(root):
    files = {}
    for folder in FOLDERS:
        d = os.path.join(root, folder)
        for name in sorted(os.listdir(d)):
            if not name.endswith((".c", ".h")):
                continue
            rel = f"{folder}/{name}"
            with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
                text = f.read()
            files[rel] = {"text": text, "stripped": strip_c(text), "module": module_of(rel)}
    return files


def resolve_include(files, rel, inc):
    folder = rel.split("/")[0]
    for d in [folder] + SEARCH:
        cand = f"{d}/{inc}"
        if cand in files:
            return cand
    return None


def main():
    ap = argparse.ArgumentParser(description="check that dependencies point one way")
    ap.add_argument("--root", default=os.path.join(os.path.dirname(__file__), ".."))
    ap.add_argument("--stats", action="store_true")
    args = ap.parse_args()
    root = os.path.abspath(args.root)
    files = load(root)
    problems = []

    modules = {}
    for rel, f in files.items():
        modules.setdefault(f["module"], []).append(rel)
    for mod in sorted(modules):
        if layer_of(mod) is None:
            problems.append(f"{mod}: no layer (add it to LAYERS in tests/check_layers.py)")

    # Who defines what.
    owner = {}
    for rel, f in files.items():
        for name in definitions(rel, f["stripped"]):
            owner.setdefault(name, set()).add(f["module"])

    # Edges: module -> module -> list of (kind, file, what).
    edges = {}

    def add(a, b, kind, rel, what):
        if a != b:
            edges.setdefault(a, {}).setdefault(b, []).append((kind, rel, what))

    ident = re.compile(r"\b[A-Za-z_]\w*\b")
    for rel, f in files.items():
        mod = f["module"]
        for m in re.finditer(r'^\s*#\s*include\s+"([^"]+)"', f["text"], re.M):
            target = resolve_include(files, rel, m.group(1))
            if target:
                add(mod, files[target]["module"], "include", rel, m.group(1))
        body = "\n".join(l for l in f["stripped"].split("\n") if not l.lstrip().startswith("#"))
        seen = set()
        for m in ident.finditer(body):
            name = m.group(0)
            if name in seen or name not in owner:
                continue
            seen.add(name)
            for other in owner[name]:
                if other != mod:
                    add(mod, other, "name", rel, name)

    upward = 0
    for a in sorted(edges):
        la = layer_of(a)
        for b in sorted(edges[a]):
            lb = layer_of(b)
            if la is None or lb is None or lb <= la:
                continue
            for kind, rel, what in edges[a][b]:
                upward += 1
                problems.append(f"upward {kind}: {rel} ({LAYERS[la][0]}) -> {b} "
                                f"({LAYERS[lb][0]}): {what}")

    # Circles: strongly connected components (Tarjan).
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(modules):
        if v not in index:
            strong(v)
    for comp in sccs:
        ties = []
        for a in comp:
            for b in comp:
                for kind, rel, what in edges.get(a, {}).get(b, [])[:3]:
                    ties.append(f"    {rel} -> {b}: {kind} {what}")
        problems.append(f"circle of {len(comp)} modules: {', '.join(comp)}\n" + "\n".join(ties))

    if args.stats:
        print_stats(files, modules, edges, upward, sccs)
    if problems:
        for p in problems:
            print(f"check_layers: {p}", file=sys.stderr)
        print(f"check_layers: FAILED ({len(problems)} problem(s))", file=sys.stderr)
        return 1
    nedges = sum(len(v) for v in edges.values())
    print(f"check_layers: ok ({len(modules)} modules in {len(LAYERS)} layers, {nedges} "
          f"dependencies, none upward, no circle)")
    return 0


def print_stats(files, modules, edges, upward, sccs):
    print("layer      module                 lines  comment%")
    for idx, (lname, _) in enumerate(LAYERS):
        for mod in sorted(m for m in modules if layer_of(m) == idx):
            text = "".join(files[r]["text"] for r in modules[mod])
            lines = text.count("\n")
            cl = sum(comment_lines(files[r]["text"]) for r in modules[mod])
            print(f"{lname:<10} {mod:<22} {lines:>5}  {100.0 * cl / max(lines, 1):5.1f}")
    for folder in FOLDERS:
        cs = [r for r in files if r.startswith(folder + "/") and r.endswith(".c")]
        lines = sum(files[r]["text"].count("\n") for r in cs)
        cl = sum(comment_lines(files[r]["text"]) for r in cs)
        print(f"{folder}/*.c: {len(cs)} files, {lines} lines, comment lines "
              f"{100.0 * cl / max(lines, 1):.1f}%")
    includes = sum(1 for a in edges for b in edges[a] for k, _, _ in edges[a][b] if k == "include")
    print(f"module dependencies: {sum(len(v) for v in edges.values())} "
          f"({includes} include lines), upward: {upward}, circles: {len(sccs)}")


if __name__ == "__main__":
    sys.exit(main())
