"""The packages' import structure: one module per step, no import cycles, and the store free of the others."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("kg", "extract", "retrieve", "store")


def imports() -> nx.DiGraph:
    """Module -> the project modules it imports, at the top or inside a function."""
    g = nx.DiGraph()
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            mod = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            g.add_node(mod)
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level
                         else [])
                for name in names:
                    if name.split(".")[0] in PACKAGES and name != mod:
                        g.add_edge(mod, name)
    return g


def test_no_module_imports_itself_back() -> None:
    g = imports()
    assert list(nx.simple_cycles(g.subgraph([n for n in g if n.startswith(("store.", "extract."))]))) == []


def test_the_store_imports_nothing_from_the_other_packages() -> None:
    g = imports()
    assert [(a, b) for a, b in g.edges if a.startswith("store.") and not b.startswith("store")] == []


def test_extraction_settings_load_neither_the_store_nor_spacy() -> None:
    code = "import sys, extract.config; print(sorted(m for m in ('sqlalchemy', 'spacy', 'torch') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
