"""`make check` rule: the pure core (money and rating) imports no database, web or serial
code, directly or through another module of the project."""

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PURE = ["billing_addon/money.py", "billing_addon/rating.py"]
ALLOWED_STDLIB = {"__future__", "dataclasses", "datetime", "re", "typing", "decimal", "math"}
ALLOWED_PROJECT = {"billing_addon.money", "billing_addon.rating"}


def imports(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve inside billing_addon
                module = "billing_addon" + ("." + node.module if node.module else "")
                names = [module] if node.module else [f"billing_addon.{a.name}" for a in node.names]
                for name in names:
                    yield node.lineno, name
            else:
                yield node.lineno, node.module or ""


def main() -> int:
    bad = []
    for rel in PURE:
        for line, name in imports(ROOT / rel):
            top = name.split(".")[0]
            if name in ALLOWED_PROJECT or (top in ALLOWED_STDLIB and top != "billing_addon"):
                continue
            bad.append(f"{rel}:{line}: imports {name} (the pure core may import only "
                       f"{', '.join(sorted(ALLOWED_STDLIB | ALLOWED_PROJECT))})")
    for problem in bad:
        print(problem)
    print("import boundary OK" if not bad else f"{len(bad)} forbidden import(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
