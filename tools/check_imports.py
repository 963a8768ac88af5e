"""`make check` rules on imports, read from the source with ast (nothing is imported):

1. the pure core (money, rating and the Refusal they raise) imports no database, web or
   serial code, directly or through another module of the project;
2. hwlicense, the stand-alone license library that the sales tool runs without the
   add-on, imports nothing of billing_addon, web or board: not directly, not relatively,
   not by name (importlib.import_module, importlib.resources.files);
3. no two hwlicense modules import each other in a circle.  Imports inside functions and
   under TYPE_CHECKING count: they are a circle of the design even where Python copes.
"""

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PURE = ["billing_addon/money.py", "billing_addon/rating.py", "billing_addon/errors.py",
        "billing_addon/digits.py"]
ALLOWED_STDLIB = {"__future__", "dataclasses", "datetime", "re", "typing", "decimal", "math"}
ALLOWED_PROJECT = {"billing_addon.money", "billing_addon.rating", "billing_addon.errors",
                   "billing_addon.digits"}
LIBRARY = "hwlicense"
NOT_FOR_LIBRARY = {"billing_addon", "web", "board"}
BY_NAME = {"import_module", "__import__", "files"}  # calls whose first argument names a module


def imports(path: Path, package: str):
    """(line, module, imported names) of every import in the file at ``path``, a module
    of ``package``: relative imports resolved, ``import_module("x")`` and the like too."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    constants = {target.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
                 and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
                 for target in node.targets if isinstance(target, ast.Name)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, ()
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                parts = package.split(".")
                base = parts[:max(0, len(parts) - node.level + 1)]
                module = ".".join(base + ([module] if module else []))
            if not module:  # from .. import x, above the top package: x is top-level
                for alias in node.names:
                    yield node.lineno, alias.name, ()
                continue
            yield node.lineno, module, tuple(a.name for a in node.names)
        elif isinstance(node, ast.Call) and node.args and _called(node.func) in BY_NAME:
            first = node.args[0]  # a string, or the name of a module-level string
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                yield node.lineno, first.value, ()
            elif isinstance(first, ast.Name) and first.id in constants:
                yield node.lineno, constants[first.id], ()


def _called(func: ast.expr) -> str:
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")


def targets(module: str, names) -> list:
    """The modules an import reaches: ``from pkg import a`` -> pkg.a when pkg is a
    package of the project, else the module itself."""
    if names and (ROOT / module.replace(".", "/")).is_dir():
        return [f"{module}.{name}" for name in names]
    return [module]


def module_of(path: Path) -> tuple:
    """(module name, its package) of a file under ROOT."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
        return ".".join(parts), ".".join(parts)
    return ".".join(parts), ".".join(parts[:-1])


def pure_core_problems() -> list:
    bad = []
    for rel in PURE:
        path = ROOT / rel
        if not path.is_file():
            bad.append(f"{rel}: missing (a module of the pure core: update PURE)")
            continue
        for line, module, names in imports(path, module_of(path)[1]):
            for name in targets(module, names):
                top = name.split(".")[0]
                if name in ALLOWED_PROJECT or (top in ALLOWED_STDLIB and top != "billing_addon"):
                    continue
                bad.append(f"{rel}:{line}: imports {name} (the pure core may import only "
                           f"{', '.join(sorted(ALLOWED_STDLIB | ALLOWED_PROJECT))})")
    return bad


def library_problems() -> list:
    """Rule 2 for every module of hwlicense, then rule 3 on their import graph."""
    files = {module_of(p)[0]: p for p in sorted((ROOT / LIBRARY).rglob("*.py"))}
    graph: dict = {name: {} for name in files}  # module -> {imported module: line}
    bad = []
    for name, path in files.items():
        rel = path.relative_to(ROOT).as_posix()
        for line, module, names in imports(path, module_of(path)[1]):
            if module.split(".")[0] in NOT_FOR_LIBRARY:
                bad.append(f"{rel}:{line}: imports {module}: {LIBRARY} is a stand-alone library "
                           f"and may not import {', '.join(sorted(NOT_FOR_LIBRARY))} (pass what "
                           "it needs as a parameter)")
                continue
            for target in targets(module, names):
                if target in files and target != name:
                    graph[name].setdefault(target, line)
    for cycle in cycles(graph):
        steps = " -> ".join(cycle + [cycle[0]])
        where = ", ".join(f"{files[a].relative_to(ROOT).as_posix()}:{graph[a][b]}"
                          for a, b in zip(cycle, cycle[1:] + [cycle[0]]))
        bad.append(f"import cycle among {LIBRARY} modules: {steps} (at {where})")
    return bad


def cycles(graph: dict) -> list:
    """One cycle (a list of modules) for each strongly connected part of ``graph`` that
    has more than one module (Tarjan): the shortest one."""
    index: dict = {}
    low: dict = {}
    stack: list = []
    parts: list = []

    def visit(node) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            part = []
            while True:
                top = stack.pop()
                part.append(top)
                if top == node:
                    break
            if len(part) > 1:
                parts.append(set(part))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(_shortest_cycle(graph, part) for part in parts)


def _shortest_cycle(graph: dict, part: set) -> list:
    """The shortest cycle inside ``part`` (breadth first from each module, by name)."""
    best: list = []
    for start in sorted(part):
        paths = {start: [start]}
        queue = [start]
        while queue:
            node = queue.pop(0)
            for nxt in sorted(graph[node]):
                if nxt == start and (not best or len(paths[node]) < len(best)):
                    best = paths[node]
                if nxt in part and nxt not in paths:
                    paths[nxt] = paths[node] + [nxt]
                    queue.append(nxt)
    return best


def main() -> int:
    bad = pure_core_problems() + library_problems()
    for problem in bad:
        print(problem)
    print("import boundary OK" if not bad else f"{len(bad)} forbidden import(s) or cycle(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
