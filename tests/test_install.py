"""The README's pip route resolves the CPU build of torch, with no CUDA package; the wheel's top-level packages
are the four the repository has."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import ROOT

CUDA = re.compile(r"^(nvidia-|cuda-|triton$)", re.IGNORECASE)


def readme_pip_line() -> list[str]:
    line = next(s.strip() for s in (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
                if s.strip().startswith('pip install "torch=='))
    return shlex.split(line)[2:]


def test_the_documented_pip_route_resolves_no_cuda_package(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                        "--report", str(report), *readme_pip_line()], cwd=ROOT, capture_output=True, text=True,
                       timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    installed = {i["metadata"]["name"]: i["metadata"]["version"] for i in json.loads(report.read_text())["install"]}
    assert [n for n in installed if CUDA.match(n)] == []
    assert installed["torch"].startswith("2.13.0")


def test_the_wheel_installs_only_the_four_packages_at_the_top_level(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w",
                        str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    (wheel,) = tmp_path.glob("kg_rag-*.whl")
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist() if not name.startswith("kg_rag-")}
    assert tops == {"kg", "extract", "retrieve", "store"}
