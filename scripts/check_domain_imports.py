"""The domain imports nothing of the web: no admin, no view, no HTTP request, no template, no DRF.

import-linter (`.importlinter`) keeps the arrows between our folders pointing down, but it can
forbid an outside package only as a whole (`django` is needed by the models). This checks the
Django modules that belong to the edges, in every module of `payments/` but its tests.
Run by `make lint`; exits 1 naming each import that breaks the rule.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

DOMAIN = Path(__file__).resolve().parent.parent / "payments"
EDGE_MODULES = (
    "django.contrib.admin", "django.http", "django.views", "django.shortcuts", "django.template", "django.urls",
    "django.forms", "rest_framework", "drf_spectacular",
)


def imports_of(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def main() -> int:
    broken = [
        f"{path.relative_to(DOMAIN.parent)}:{line}: imports {module}"
        for path in sorted(DOMAIN.rglob("*.py")) if "tests" not in path.parts and "migrations" not in path.parts
        for line, module in imports_of(path)
        if any(module == edge or module.startswith(edge + ".") for edge in EDGE_MODULES)
    ]
    for line in broken:
        print(line)
    if broken:
        print("The domain (payments/) imports an edge's module: move that code to checkout/, webhooks/ or midoffice/.")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
