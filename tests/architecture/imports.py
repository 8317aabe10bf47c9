"""The import graph of `shop/`, counting every import, including those inside functions.

`python -m tests.architecture.imports` prints the circles between modules and between
the top-level parts of `shop/` (its packages and loose modules).
"""
import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHOP = ROOT / "shop"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in SHOP.rglob("*.py")}


def _resolve(current: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = current.split(".") if is_package else current.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def graph() -> dict[str, set[str]]:
    """module -> the shop modules it imports (a `from pkg import name` counts `pkg.name`
    when that is a module, else `pkg`)."""
    known = modules()
    edges: dict[str, set[str]] = defaultdict(set)
    for name, path in known.items():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, path.name == "__init__.py", node)
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    targets.append(full if full in known else base)
            for target in targets:
                while target and target not in known:
                    target = target.rpartition(".")[0]
                if target and target != name and target.startswith("shop"):
                    edges[name].add(target)
    return edges


def part(module: str) -> str:
    """`shop.orders.services` -> `orders`; a loose module is its own part."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else "shop"


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []
    counter = [0]
    nodes = set(edges) | {t for ts in edges.values() for t in ts}

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def part_edges(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    parts: dict[str, set[str]] = defaultdict(set)
    for source, targets in edges.items():
        for target in targets:
            # A package's __init__ importing its own children is not a dependency between parts.
            if part(source) != part(target) and target != "shop" and source != "shop":
                parts[part(source)].add(part(target))
    return parts


if __name__ == "__main__":
    g = graph()
    print("module circles:")
    for c in cycles(g):
        print("  ", " ".join(c))
    print("top-level part circles:")
    for c in cycles(part_edges(g)):
        print("  ", " ".join(c))


def unresolved() -> list[str]:
    """Imports of shop modules that do not exist (a function-level import of a moved
    module fails only when that function runs)."""
    known = modules()
    packages = {name for name, path in known.items() if path.name == "__init__.py"}
    out = []
    for name, path in known.items():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                base = _resolve(name, path.name == "__init__.py", node) if node.level else (node.module or "")
                if not base.startswith("shop"):
                    continue
                if base not in known:
                    out.append(f"{path.relative_to(ROOT)}:{node.lineno} from {base}")
                    continue
                if base in packages:
                    for alias in node.names:
                        full = f"{base}.{alias.name}"
                        if full not in known and not _defines(known[base], alias.name):
                            out.append(f"{path.relative_to(ROOT)}:{node.lineno} {full}")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("shop") and alias.name not in known:
                        out.append(f"{path.relative_to(ROOT)}:{node.lineno} import {alias.name}")
    return out


def _defines(init: Path, name: str) -> bool:
    tree = ast.parse(init.read_text())
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name:
            return True
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return True
        if isinstance(node, (ast.Import, ast.ImportFrom)) and any((a.asname or a.name) == name for a in node.names):
            return True
    return False
