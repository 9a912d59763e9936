"""No import cycles in the workspace's crates: between files, nor between a crate's top-level
modules (folders). A cycle is printed as the path that closes it.

Usage: check_module_cycles.py CRATE_SRC_DIR...

A module's dependencies are the `crate::a::b` and `super::a` paths it names outside its tests
(`#[cfg(test)]` and below). Exits non-zero when a cycle exists.
"""

import re
import sys
from pathlib import Path

CRATE_PATH = re.compile(r"\bcrate::([a-z_][a-z0-9_]*(?:::[a-z_][a-z0-9_]*)*)")
SUPER_PATH = re.compile(r"\bsuper::([a-z_][a-z0-9_]*)")


def module_name(src: Path, file: Path) -> tuple[str, ...]:
    parts = list(file.relative_to(src).with_suffix("").parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


def dependencies(src: Path) -> dict[tuple[str, ...], set[tuple[str, ...]]]:
    files = [f for f in src.rglob("*.rs") if "bin" not in f.relative_to(src).parts]
    modules = {module_name(src, f): f for f in files}

    def resolve(path: tuple[str, ...]) -> tuple[str, ...] | None:
        # The longest prefix that is a module: `crate::a::B` names module `a`.
        for end in range(len(path), 0, -1):
            if path[:end] in modules:
                return path[:end]
        return None

    graph: dict[tuple[str, ...], set[tuple[str, ...]]] = {}
    for name, file in modules.items():
        code = file.read_text().split("#[cfg(test)]")[0]
        named = [tuple(m.split("::")) for m in CRATE_PATH.findall(code)]
        parent = name[:-1]
        named += [parent + (m,) for m in SUPER_PATH.findall(code)]
        targets = {resolve(path) for path in named}
        graph[name] = {t for t in targets if t is not None and t != name and t != ()}
    return graph


def cycles(graph: dict) -> list[list]:
    found, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    return found


def main() -> int:
    failed = False
    for src in map(Path, sys.argv[1:]):
        graph = dependencies(src)
        top: dict = {}
        for node, targets in graph.items():
            for target in targets:
                # A folder's own files depending on one another is no cycle between folders.
                if node[:1] != target[:1]:
                    top.setdefault(node[:1], set()).add(target[:1])
        for kind, found in (("file", cycles(graph)), ("module", cycles(top))):
            for cycle in found:
                failed = True
                print(f"{src}: {kind} cycle: " + " -> ".join("::".join(m) or "lib" for m in cycle))
        print(f"{src}: {len(graph)} modules checked")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
