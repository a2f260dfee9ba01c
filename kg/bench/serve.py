"""``kg bench serve``: what the long-running service buys over a ``kg search`` process per question.

On a store built from a dataset's corpus (MuSiQue's by default, built once and kept with ``--db``), in one run:

- start-up: ``kg serve`` as a new process, from launch to ``/api/health`` saying ready (models and index loaded);
- warm ``/api/search`` latency, p50 / p95 over the dataset's questions on loopback, against the peer: a ``kg
  search`` process per question, run the same way (``--peer-queries`` of them), whose wall time includes loading
  the models; the ratio is the point of the service;
- throughput and p95 with 1, 4 and 16 concurrent clients, each for ``--seconds``, and errors (must be 0);
- the same with 4 clients while another process ingests new documents into the store.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from kg.bench.common import percentile_ms

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = (1, 4, 16)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _kg(*args: str) -> list[str]:
    return [sys.executable, "-m", "kg.cli", *args]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def _build(db: Path, corpus: Path, say: Any) -> None:
    if db.exists():
        return
    say(f"building {db} from {corpus} (kept for later runs)…")
    subprocess.run(_kg("--db", str(db), "ingest", str(corpus), "--quiet"), env=_env(), check=True,
                   stdout=subprocess.DEVNULL)


def _load(clients: int, seconds: float, url: str, questions: list[str]) -> dict[str, Any]:
    """``clients`` threads asking searches in turn for ``seconds``: requests/s, p50 / p95, errors."""
    import httpx

    took: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def client(i: int) -> None:
        with httpx.Client(timeout=60) as c:
            n = i
            while time.perf_counter() < stop:
                q = questions[n % len(questions)]
                n += clients
                t0 = time.perf_counter()
                try:
                    r = c.get(f"{url}/api/search", params={"q": q, "k": 8})
                    ok = r.status_code == 200
                    why = f"HTTP {r.status_code}"
                except httpx.HTTPError as e:
                    ok, why = False, type(e).__name__
                with lock:
                    (took.append(time.perf_counter() - t0) if ok else errors.append(why))

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {"clients": clients, "requests": len(took), "errors": len(errors), "error_kinds": sorted(set(errors)),
            "rps": round(len(took) / wall, 2), "p50_ms": percentile_ms(took, 50) if took else None,
            "p95_ms": percentile_ms(took, 95) if took else None}


def _wait_ready(proc: subprocess.Popen, url: str, limit: float = 300) -> dict[str, Any]:
    """Poll ``/api/health`` until the service says ready; its answer, with the seconds since ``proc`` started."""
    import httpx

    t0 = time.perf_counter()
    with httpx.Client(timeout=5) as c:
        while time.perf_counter() - t0 < limit:
            if proc.poll() is not None:
                raise RuntimeError(f"kg serve exited with {proc.returncode}")
            try:
                h = c.get(f"{url}/api/health").json()
                if h.get("ready"):
                    return {**h, "seconds": time.perf_counter() - t0}
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
    raise RuntimeError(f"kg serve was not ready after {limit:g} s")


def run_serve_bench(dataset: str | Path, db: str | Path | None = None, queries: int = 50, peer_queries: int = 5,
                    seconds: float = 15.0, progress: Console | None = None) -> dict[str, Any]:
    import httpx

    from kg.bench.retrieval import dataset_files, read_corpus

    def say(msg: str) -> None:
        if progress is not None:
            progress.print(f"[dim]{msg}[/dim]")

    corpus, queries_path = dataset_files(dataset)
    questions = [json.loads(line)["question"] for line in queries_path.open(encoding="utf-8") if line.strip()]
    questions = questions[:queries]
    with tempfile.TemporaryDirectory(prefix="kg-bench-serve-") as tmp:
        store = Path(db) if db else Path(tmp) / "kg.db"
        _build(store, corpus, say)
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        say("starting kg serve…")
        out: dict[str, Any] = {"dataset": str(corpus), "store": str(store), "cpu_cores": os.cpu_count(),
                               "load_average": [round(os.getloadavg()[0], 2)]}
        proc = subprocess.Popen(_kg("--db", str(store), "serve", "--port", str(port), "--read-only"), env=_env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            h = _wait_ready(proc, url)
            ready = h["seconds"]
            out["documents"], out["startup_seconds"] = h["stats"]["documents"], round(ready, 2)
            say(f"ready after {ready:.1f} s; {len(questions)} warm searches…")
            with httpx.Client(timeout=60) as c:
                c.get(f"{url}/api/search", params={"q": questions[0], "k": 8})
                took = []
                for q in questions:
                    t1 = time.perf_counter()
                    c.get(f"{url}/api/search", params={"q": q, "k": 8}).raise_for_status()
                    took.append(time.perf_counter() - t1)
            out["search_p50_ms"], out["search_p95_ms"] = percentile_ms(took, 50), percentile_ms(took, 95)
            say(f"peer: {peer_queries} kg search processes…")
            peer = []
            for q in questions[:peer_queries]:
                t1 = time.perf_counter()
                subprocess.run(_kg("--db", str(store), "search", q, "-k", "8"), env=_env(), check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                peer.append(time.perf_counter() - t1)
            out["peer_kg_search_p50_ms"] = percentile_ms(peer, 50)
            out["peer_ratio"] = round(out["peer_kg_search_p50_ms"] / out["search_p50_ms"], 1)
            out["load"] = []
            for n in CLIENTS:
                say(f"{n} concurrent client(s) for {seconds:g} s…")
                out["load"].append(_load(n, seconds, url, questions))
            out["load_average"].append(round(os.getloadavg()[0], 2))
        finally:
            proc.terminate()
            proc.wait(30)
        # While another process writes: the service opens the store read-only, so run a writable one.
        say("4 clients while another process ingests…")
        live = Path(tmp) / "live.db"
        shutil.copy(store, live)
        if Path(f"{store}.index").exists():
            shutil.copytree(Path(f"{store}.index"), Path(f"{live}.index"))
        extra = Path(tmp) / "extra"
        extra.mkdir()
        for i, row in enumerate(read_corpus(corpus)[:200]):
            (extra / f"new-{i:04d}.txt").write_text(f"{row.get('title') or 'Untitled'} (revised)\n\n{row['text']} "
                                                    "This copy was added while the service answered.\n",
                                                    encoding="utf-8")
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        proc = subprocess.Popen(_kg("--db", str(live), "serve", "--port", str(port)), env=_env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_ready(proc, url)
            writer = subprocess.Popen(_kg("--db", str(live), "ingest", str(extra), "--quiet"), env=_env(),
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            during = _load(4, seconds, url, questions)
            during["ingest_finished_during_load"] = writer.poll() is not None
            writer.wait()
            during["ingest_exit"] = writer.returncode
            out["load_while_ingesting"] = during
        finally:
            proc.terminate()
            proc.wait(30)
    return out


def print_serve_bench(r: dict[str, Any], console: Console) -> None:
    t = Table(title=f"kg serve on {r.get('documents', '?')} documents (load {r['load_average']})")
    t.add_column("figure")
    t.add_column("kg serve", justify="right")
    t.add_column("peer: kg search per question", justify="right")
    t.add_column("ratio", justify="right")
    t.add_row("start-up to ready (s)", f"{r['startup_seconds']:.2f}", "", "")
    t.add_row("search p50 (ms)", f"{r['search_p50_ms']:.1f}", f"{r['peer_kg_search_p50_ms']:.0f}",
              f"{r['peer_ratio']:g}×")
    t.add_row("search p95 (ms)", f"{r['search_p95_ms']:.1f}", "", "")
    console.print(t)
    c = Table(title="concurrent clients on loopback")
    for col in ("clients", "requests/s", "p50 ms", "p95 ms", "errors"):
        c.add_column(col, justify="right")
    for row in [*r["load"], {**r["load_while_ingesting"], "clients": "4 + ingest"}]:
        c.add_row(str(row["clients"]), f"{row['rps']:.1f}", f"{row['p50_ms'] or 0:.0f}", f"{row['p95_ms'] or 0:.0f}",
                  str(row["errors"]))
    console.print(c)
