#!/usr/bin/env python3
"""Lists import cycles between the modules of each crate in the workspace.

Unit-test modules (`#[cfg(test)] mod tests` at the end of a file) are left out. A module is a source file (`a/b.rs` or `a/b/mod.rs` is `a::b`); an edge `m -> n` is a
`crate::n…` or `super::…` path in m that names module n (not m itself or one of its own
submodules). Prints each cycle found (strongly connected components of more than one module)
and exits 1 if there is any. Usage: scripts/module-cycles.py [crate-src-dir ...]
"""
import os, re, sys

def modules(src):
    mods = {}
    for root, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(root, f), src)[:-3].split(os.sep)
            if rel[-1] in ("mod", "lib", "main"):
                rel = rel[:-1]
            mods["::".join(rel)] = os.path.join(root, f)
    return mods

def resolve(path, mods):
    parts = path.split("::")
    for n in range(len(parts), 0, -1):
        cand = "::".join(parts[:n])
        if cand in mods:
            return cand
    return None

def edges(mods):
    graph = {m: set() for m in mods}
    pat = re.compile(r"\b(crate|super)((?:::\w+)+)")
    for m, path in mods.items():
        text = open(path, encoding="utf-8").read()
        text = re.sub(r"//.*", "", text)
        # A file's unit tests (by convention its last item) may use anything.
        text = re.split(r"\n#\[cfg\(test\)\]\s*\nmod tests\b", text)[0]
        for kind, rest in pat.findall(text):
            segs = rest.strip(":").split("::")
            if kind == "crate":
                target = resolve("::".join(segs), mods)
            else:
                base = m.split("::")[:-1] if m else []
                is_dir_mod = path.endswith(("mod.rs", "lib.rs"))
                if is_dir_mod:
                    base = m.split("::")[:-1] if m else []
                target = resolve("::".join([p for p in base if p] + segs), mods)
            if target is None or target == m or target == "" or target.startswith(m + "::") or m.startswith(target + "::"):
                continue
            graph[m].add(target)
    return graph

def sccs(graph):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10000)
    def visit(v):
        index[v] = low[v] = counter[0]; counter[0] += 1
        stack.append(v); on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w); low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))
    for v in graph:
        if v not in index:
            visit(v)
    return out

dirs = sys.argv[1:] or ["src"] + [os.path.join("crates", c, "src") for c in sorted(os.listdir("crates"))]
found = False
for d in dirs:
    cycles = sccs(edges(modules(d)))
    for c in cycles:
        found = True
        print(f"{d}: cycle among {', '.join(c)}")
    if not cycles:
        print(f"{d}: no module cycle")
sys.exit(1 if found else 0)
