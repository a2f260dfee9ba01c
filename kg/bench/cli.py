"""``kg bench cli``: how long a fresh ``kg`` process takes to answer, command by command.

Every command runs as a new process, as a user types it, against a store built from the bundled sample, after
one warm-up run (as on an installed system: compiled modules cached, files in the page cache). The peer in the
same run is a bare Python interpreter start (``python -c pass``); the target column is what a responsive
command line needs.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

SAMPLE = Path(__file__).resolve().parents[1] / "sample"
ROOT = Path(__file__).resolve().parents[2]
# Command (after ``kg``), and the target for a cold process on a quiet machine, in seconds.
COMMANDS: list[tuple[str, list[str], float | None]] = [
    ("--version", ["--version"], 0.3),
    ("--help", ["--help"], 0.3),
    ("stats", ["stats"], 0.8),
    ("docs", ["docs"], 0.8),
    ("entity", ["entity", "Marie Curie"], 0.8),
    ("neighbors", ["neighbors", "Marie Curie"], 0.8),
    ("search", ["search", "Who founded the Radium Institute?", "-k", "3"], None),
]


def _time(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {r.stderr.strip()[:300]}")
    return elapsed


def run_cli_bench(db: str | None = None, repeat: int = 5, progress: Console | None = None) -> dict[str, Any]:
    """Median and best seconds of each command over ``repeat`` cold runs, with the interpreter start as peer."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("KG_DB", None)
    # As installed: Python caches compiled modules (.pyc), so a second run does not compile kg's sources again.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    with tempfile.TemporaryDirectory(prefix="kg-bench-cli-") as tmp:
        store = db or str(Path(tmp) / "sample.db")
        if not Path(store).exists():
            if progress:
                progress.print(f"building {store} from the bundled sample")
            subprocess.run([sys.executable, "-m", "kg.cli", "ingest", str(SAMPLE), "--db", store, "--quiet"],
                           env=env, cwd=ROOT, check=True, capture_output=True)
        rows = []
        bare = [_time([sys.executable, "-c", "pass"], env) for _ in range(repeat)]
        peer = statistics.median(bare)
        rows.append({"command": "python -c pass (peer)", "median_s": round(peer, 3), "best_s": round(min(bare), 3),
                     "ratio": 1.0, "target_s": None, "met": None})
        for name, args, target in COMMANDS:
            if progress:
                progress.print(f"timing kg {name}")
            argv = ([sys.executable, "-m", "kg.cli", *args, "--db", store] if not name.startswith("--")
                    else [sys.executable, "-m", "kg.cli", *args])
            _time(argv, env)  # warm: compiled modules cached, files in the page cache
            times = [_time(argv, env) for _ in range(repeat)]
            med = statistics.median(times)
            rows.append({"command": f"kg {name}", "median_s": round(med, 3), "best_s": round(min(times), 3),
                         "ratio": round(med / peer, 2), "target_s": target,
                         "met": None if target is None else med <= target})
    return {"repeat": repeat, "load_average": [round(x, 2) for x in os.getloadavg()], "rows": rows}


def print_cli_bench(result: dict[str, Any], out: Console) -> None:
    t = Table("command", "median s", "best s", "× python start", "target s", "met",
              title=f"Cold kg processes, {result['repeat']} runs each (load average "
                    f"{', '.join(map(str, result['load_average']))})", title_justify="left")
    for r in result["rows"]:
        met = "" if r["met"] is None else ("yes" if r["met"] else "no")
        t.add_row(r["command"], f"{r['median_s']:.3f}", f"{r['best_s']:.3f}", f"{r['ratio']:.1f}",
                  "" if r["target_s"] is None else f"{r['target_s']:.1f}", met)
    out.print(t)
