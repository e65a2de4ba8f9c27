#!/usr/bin/env python3
"""Checks the source layout rules of docs/ARCHITECTURE.md for every crate of the workspace:

- no import cycle between the source files of a crate: file A uses an item of file B
  through a `crate::`/`super::`/`self::` path or a path through one of its child modules,
  and B uses A, directly or through other files (test code aside);
- no non-test source file over 800 lines.

Test code is `#[cfg(test)]` modules, inline or in their own files, and everything under
`tests/`, `benches/` and `examples/`. A cycle is printed as the chain of files and, for each
step, the path that makes it. Exit status 1 when a rule is broken.

    python3 scripts/check-layout.py [CRATE_DIR ...]    # default: every workspace crate
"""

import os
import re
import sys

MAX_LINES = 800
IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def strip_comments(text):
    """Blanks comments, string and char literals, keeping line breaks (and so line numbers)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and not re.match(r"\w", text[i - 1:i] or " "):
            m = re.match(r'r(#*)"', text[i:])
            end = text.find('"' + m.group(1), i + len(m.group(0)))
            end = n if end < 0 else end + 1 + len(m.group(1))
            out.append('""' + "\n" * text.count("\n", i, end))
            i = end
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j + 1
        elif c == "'" and re.match(r"'(\\.|[^\\'])'|'\\u\{[0-9a-fA-F]+\}'|'\\x[0-9a-fA-F]{2}'", text[i:i + 12]):
            m = re.match(r"'(\\.|[^\\'])'|'\\u\{[0-9a-fA-F]+\}'|'\\x[0-9a-fA-F]{2}'", text[i:])
            out.append("' '")
            i += len(m.group(0))
        else:
            out.append(c)
            i += 1
    return "".join(out)


def block_end(text, open_brace):
    """Index just past the brace that closes the one at `open_brace`."""
    depth = 0
    for j in range(open_brace, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return j + 1
    return len(text)


CFG_TEST = re.compile(r"#\[cfg\((?:test|all\(test[^\]]*\)|any\(test[^\]]*\))\)\]")


def strip_test_code(text):
    """Removes `#[cfg(test)]` items (inline modules, functions, impls, `mod x;` lines)."""
    out, pos = [], 0
    for m in CFG_TEST.finditer(text):
        if m.start() < pos:
            continue
        rest = text[m.end():]
        decl = re.match(r"(\s*#\[[^\]]*\])*\s*[^;{]*", rest)
        k = m.end() + decl.end()
        out.append(text[pos:m.start()])
        if k < len(text) and text[k] == "{":
            end = block_end(text, k)
        else:
            end = k + 1
        out.append("\n" * text.count("\n", m.start(), end))
        pos = end
    out.append(text[pos:])
    return "".join(out)


class Crate:
    def __init__(self, root):
        self.root = root
        self.files = {}  # module path tuple -> file
        self.test_files = set()
        src = os.path.join(root, "src")
        for top in ("lib.rs", "main.rs"):
            if os.path.exists(os.path.join(src, top)):
                self.walk(os.path.join(src, top), (), False)
        bins = os.path.join(src, "bin")
        if os.path.isdir(bins):
            for f in sorted(os.listdir(bins)):
                if f.endswith(".rs"):
                    self.walk(os.path.join(bins, f), ("<bin " + f + ">",), False)

    def walk(self, path, module, is_test):
        if path in self.files.values() or not os.path.exists(path):
            return
        self.files[module] = path
        if is_test:
            self.test_files.add(path)
        raw = strip_comments(open(path, encoding="utf-8").read())
        tested = set()
        for m in re.finditer(CFG_TEST.pattern + r"(?:\s*#\[[^\]]*\])*\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(" + IDENT + r")\s*;", raw):
            tested.add(m.group(1))
        if path.endswith(("lib.rs", "main.rs", "mod.rs")) or module[:1] and module[0].startswith("<bin"):
            base = os.path.dirname(path)
        else:
            base = path[:-3]
        if module[:1] and module[0].startswith("<bin") and len(module) == 1:
            base = os.path.dirname(path)
        for m in re.finditer(r"(#\[path\s*=\s*\"\"\]\s*)?(?:pub(?:\([^)]*\))?\s+)?mod\s+(" + IDENT + r")\s*;", raw):
            name = m.group(2)
            child = None
            if m.group(1):
                # #[path = "..."]: read the literal from the uncommented text
                orig = open(path, encoding="utf-8").read()
                pm = re.search(r"#\[path\s*=\s*\"([^\"]+)\"\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+" + name + r"\s*;", orig)
                if pm:
                    child = os.path.join(os.path.dirname(path), pm.group(1))
            if child is None:
                for cand in (os.path.join(base, name + ".rs"), os.path.join(base, name, "mod.rs")):
                    if os.path.exists(cand):
                        child = cand
                        break
            if child:
                self.walk(child, module + (name,), is_test or name in tested)

    def module_of(self, path):
        for mod, f in self.files.items():
            if f == path:
                return mod
        return None

    def children(self, module):
        return {m[-1] for m in self.files if len(m) == len(module) + 1 and m[:-1] == module}

    def resolve(self, module, segments):
        """The file of the longest module prefix of the path `segments` used in `module`."""
        if not segments:
            return None
        head, rest = segments[0], segments[1:]
        if head == "crate":
            base = ()
            if module[:1] and module[0].startswith("<bin"):
                return None  # a binary's crate:: is its own file tree; binaries are one file here
        elif head == "super":
            base = module
            while segments and segments[0] == "super":
                base = base[:-1]
                segments = segments[1:]
            rest = segments
        elif head == "self":
            base = module
        elif head in self.children(module):
            base, rest = module + (head,), rest
        else:
            return None
        best = base
        for seg in rest:
            if best + (seg,) in self.files:
                best = best + (seg,)
            else:
                break
        return self.files.get(best)


def use_paths(tree, prefix=()):
    """Expands a `use` tree (the text after `use`) into its leaf paths."""
    tree = tree.strip()
    paths = []
    depth, start, parts = 0, 0, []
    m = re.match(r"((?:" + IDENT + r"\s*::\s*)*)\{(.*)\}\s*$", tree, re.S)
    if m:
        head = tuple(s.strip() for s in m.group(1).split("::") if s.strip())
        inner = m.group(2)
        for j, c in enumerate(inner):
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
            elif c == "," and depth == 0:
                parts.append(inner[start:j])
                start = j + 1
        parts.append(inner[start:])
        for p in parts:
            if p.strip():
                paths += use_paths(p, prefix + head)
        return paths
    tree = re.sub(r"\s+as\s+" + IDENT + r"$", "", tree)
    segs = tuple(s.strip() for s in tree.split("::") if s.strip() and s.strip() != "*")
    if segs == ("self",):
        return [prefix]
    return [prefix + tuple(s for s in segs if s != "self" or not prefix)]


def edges_of(crate, path):
    module = crate.module_of(path)
    text = strip_test_code(strip_comments(open(path, encoding="utf-8").read()))
    found = {}

    def add(segs, line):
        target = crate.resolve(module, list(segs))
        if target and target != path and target not in crate.test_files:
            found.setdefault(target, (line, "::".join(segs)))

    for m in re.finditer(r"\buse\s+([^;]+);", text):
        line = text.count("\n", 0, m.start()) + 1
        for segs in use_paths(m.group(1)):
            add(segs, line)
    kids = crate.children(module)
    heads = "crate|super|self" + ("|" + "|".join(sorted(kids)) if kids else "")
    for m in re.finditer(r"(?<![A-Za-z0-9_:$])((?:" + heads + r")(?:\s*::\s*" + IDENT + r")+)", text):
        line = text.count("\n", 0, m.start()) + 1
        segs = [s.strip() for s in m.group(1).split("::")]
        add(segs, line)
    return found


def sccs(nodes, edges):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
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
            out.append(comp)

    sys.setrecursionlimit(10000)
    for v in nodes:
        if v not in index:
            visit(v)
    return out


def cycle_in(comp, edges):
    """One cycle through the component's first file, as a list of files."""
    comp = set(comp)
    start = sorted(comp)[0]
    prev, todo = {start: None}, [start]
    while todo:
        v = todo.pop(0)
        for w in sorted(edges.get(v, {})):
            if w == start:
                chain = [v]
                while prev[chain[-1]] is not None:
                    chain.append(prev[chain[-1]])
                return list(reversed(chain)) + [start]
            if w in comp and w not in prev:
                prev[w] = v
                todo.append(w)
    return [start]


def check(crate_dir, root):
    crate = Crate(crate_dir)
    problems = 0
    files = [f for f in crate.files.values() if f not in crate.test_files]
    edges = {f: edges_of(crate, f) for f in files}
    for comp in sccs(files, edges):
        if len(comp) < 2:
            continue
        problems += 1
        chain = cycle_in(comp, edges)
        rel = lambda f: os.path.relpath(f, root)
        print(f"cycle of {len(comp)} files in {rel(crate_dir)}: " + ", ".join(sorted(rel(f) for f in comp)))
        for a, b in zip(chain, chain[1:]):
            line, via = edges[a][b]
            print(f"    {rel(a)}:{line} uses {via} ({rel(b)})")
    for f in files:
        n = len(strip_test_code(strip_comments(open(f, encoding="utf-8").read())).rstrip("\n").split("\n"))
        if n > MAX_LINES:
            problems += 1
            print(f"{os.path.relpath(f, root)}: {n} lines of non-test code (at most {MAX_LINES}): split it by job")
    return problems


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    dirs = sys.argv[1:]
    if not dirs:
        cargo = open(os.path.join(root, "Cargo.toml"), encoding="utf-8").read()
        members = re.search(r"members\s*=\s*\[(.*?)\]", cargo, re.S).group(1)
        dirs = [os.path.join(root, m) for m in re.findall(r'"([^"]+)"', members)]
    problems = sum(check(os.path.abspath(d), root) for d in dirs)
    if problems:
        print(f"check-layout: {problems} problem(s)")
        return 1
    print(f"check-layout: {len(dirs)} crate(s): no file-level import cycle, no non-test file over {MAX_LINES} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
