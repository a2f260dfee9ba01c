"""``kg bench lifecycle``: build, add, delete and change documents, each step timed against and checked against a
from-scratch rebuild of the same final document set; then per-document delete time at two store sizes.

Every passage of the dataset's ``corpus.jsonl`` is written to a file of its own (one record) in a temporary
folder, so that each document has a stable source and can be deleted or changed alone; the documents are the
ones the other benches get from the whole ``corpus.jsonl``. The steps, on one live store:

1. build: a random 90 % of the passages, in random order (this is also the first step's rebuild);
2. add: the other 10 %;
3. delete: a random 10 % in one ``KnowledgeGraph.delete`` call;
4. change: a sentence appended to 1 % of the documents, whose files are re-ingested (each replaces its old version).

After each step a fresh store is built from the files the live store should now hold, and the two are compared
with ``store.fingerprint`` (content modulo row ids, stored vectors included). Every store has its models loaded
before a timed step, so the ratios compare the work, not model loading; CPU seconds are reported beside wall
seconds because other work on a shared machine inflates them less. Scaling: the same K documents are deleted
one at a time from a store of about 10 % of the passages and from the rebuild of all of them, alternating; a
delete whose cost follows the document, not the corpus, takes the same time in both (ratio about 1).
"""

from __future__ import annotations

import json
import os
import random
import re
import resource
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kg.api import KGConfig, KGError, KnowledgeGraph
from kg.bench.common import find_file
from kg.bench.retrieval import read_corpus
from kg.types import IngestReport
from store.fingerprint import differences, fingerprint

ADD_SHARE = 0.10  # of the passages: held back from the build, then added
DELETE_SHARE = 0.10  # of the store: deleted in one call
CHANGE_SHARE = 0.01  # of the store: changed and re-ingested
SMALL_SHARE = 0.10  # of the passages: the small store of the scaling rows
MIN_PASSAGES = 10
FIRST_DIFFERENCES = 20  # lines of `differences` kept per failed comparison
LINE = 240  # characters kept of each
BYTES = re.compile(r"(?<![\w'\"])(?:b'(?:[^'\\]|\\.)*'|b\"(?:[^\"\\]|\\.)*\")")  # a bytes repr: a stored vector
VECTOR_TABLES = ("chunk_vectors", "chunk_embeddings", "entity_embeddings")  # rows end with float32 bytes
ROUNDING_COSINE = 0.9999
STEP_LABELS = {"build": "build 90 % (rebuild peer)", "add": "add 10 %", "delete": "delete 10 %",
               "change": "change 1 %"}


def _passage_file(folder: Path, n: int, row: dict[str, Any], text: str | None = None) -> Path:
    """One passage as a one-record jsonl file: its source is ``<file>#<id>``, the same document as in the corpus."""
    path = folder / f"{n:05d}.jsonl"
    record = {"id": row["id"], "title": row.get("title") or "", "text": row["text"] if text is None else text}
    path.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def _open(path: Path, config: KGConfig, index: bool) -> KnowledgeGraph:
    """A store with its models loaded, so that a timed step measures the work and not the loading."""
    g = KnowledgeGraph(path, config)
    g.extractor  # noqa: B018
    if index:
        g.warm_up()
    return g


def _cpu() -> float:
    """CPU seconds of this process's threads and of its finished children (the spaCy workers)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


@dataclass
class Timing:
    """Wall seconds, and CPU seconds, which other work on a shared machine inflates much less."""

    wall: float
    cpu: float


def _timed(fn: Callable[[], Any]) -> tuple[Any, Timing]:
    wall, cpu = time.perf_counter(), _cpu()
    value = fn()
    return value, Timing(time.perf_counter() - wall, _cpu() - cpu)


def _fingerprint(g: KnowledgeGraph) -> dict[str, list[tuple[Any, ...]]]:
    with g.db.engine.connect() as conn:
        return fingerprint(conn, vectors=True)


def _compare(live: dict[str, list[tuple]], rebuilt: dict[str, list[tuple]]) -> dict[str, Any]:
    """Rows differing per table (in either store), how far apart the stored vectors are, and the first lines of
    ``differences``. ``equal`` means identical; ``equal_but_rounding`` that only vectors differ, each row of one
    store paired with the other's row of the same key, with every pair at cosine >= ``ROUNDING_COSINE``."""
    counts = {}
    for table in sorted(set(live) | set(rebuilt)):
        a, b = Counter(map(repr, live.get(table, []))), Counter(map(repr, rebuilt.get(table, [])))
        n = sum((a - b).values()) + sum((b - a).values())
        if n:
            counts[table] = n
    out: dict[str, Any] = {"equal": not counts, "differences": counts, "equal_but_rounding": False,
                           "first_differences": [_short(x) for x in differences(live, rebuilt)[:FIRST_DIFFERENCES]]}
    if counts:
        vectors = {t: _vector_gap(live.get(t, []), rebuilt.get(t, [])) for t in counts if t in VECTOR_TABLES}
        out["vectors"] = vectors
        out["equal_but_rounding"] = set(counts) <= set(vectors) and all(
            v["unpaired"] == 0 and v["min_cosine"] >= ROUNDING_COSINE for v in vectors.values())
    return out


def _short(line: str) -> str:
    """A line of ``differences`` with its bytes literals (stored vectors) elided and its length capped."""
    line = BYTES.sub("b'…'", line)
    return line if len(line) <= LINE else line[:LINE] + "…"


def _vector_gap(a: list[tuple], b: list[tuple]) -> dict[str, Any]:
    """Rows of a vector table that differ, paired by everything but the float32 bytes at their end: how many
    found no partner, the smallest cosine and the largest absolute difference between partners."""
    def by_key(rows: list[tuple]) -> dict[str, bytes]:
        return {repr(r[:-1]): r[-1] for r in rows}

    ka, kb = by_key(a), by_key(b)
    differing = [k for k in ka.keys() & kb.keys() if ka[k] != kb[k]]
    cosines, gaps = [1.0], [0.0]
    for k in differing:
        x, y = np.frombuffer(ka[k], dtype="<f4"), np.frombuffer(kb[k], dtype="<f4")
        if x.shape != y.shape:
            continue
        denom = float(np.linalg.norm(x) * np.linalg.norm(y)) or 1.0
        cosines.append(float(x @ y) / denom)
        gaps.append(float(np.abs(x - y).max()))
    return {"paired": len(differing), "unpaired": len(ka.keys() ^ kb.keys()),
            "min_cosine": round(min(cosines), 6), "max_abs_diff": float(f"{max(gaps):.3g}")}


def _store(g: KnowledgeGraph) -> dict[str, int]:
    s = g.stats()
    return {"documents": s.documents, "chunks": s.chunks, "mentions": s.mentions, "entities": s.entities,
            "relations": s.relations}


def _changed_text(text: str, rnd: random.Random, titles: list[str]) -> str:
    """The passage with one sentence appended that names another passage's subject, so links change too."""
    other = rnd.choice(titles)
    return f"{text.rstrip()} A later revision of this passage also refers to {other}."


def run_lifecycle_bench(dataset: str | Path, limit: int | None = None, seed: int = 0, deletes: int = 20,
                        index: bool = True, processes: int = 2, progress: Console | None = None) -> dict[str, Any]:
    """Time each lifecycle step and its from-scratch rebuild, compare the stores, then time single deletes."""
    corpus_path = find_file(dataset, "corpus.jsonl")
    rows = read_corpus(corpus_path)[:limit] if limit else read_corpus(corpus_path)
    if len(rows) < MIN_PASSAGES:
        raise KGError(f"{corpus_path}: the lifecycle bench needs at least {MIN_PASSAGES} passages, found "
                      f"{len(rows)}; give a larger --limit")
    n = len(rows)
    config = KGConfig.from_env()
    config.extract.n_process = processes
    rnd = random.Random(seed)
    chars = {i: len(r["text"]) for i, r in enumerate(rows)}
    titles = [r.get("title") or r["id"] for r in rows]

    def say(msg: str) -> None:
        if progress is not None:
            progress.print(f"[dim]{msg}[/dim]")

    result: dict[str, Any] = {
        "dataset": str(corpus_path), "passages": n, "chars": sum(chars.values()), "seed": seed, "index": index,
        "processes": processes, "cpu_cores": os.cpu_count(), "load_average_at_start": round(os.getloadavg()[0], 2),
    }
    steps: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="kg-bench-lifecycle-") as tmp_name:
        tmp = Path(tmp_name)
        folder = tmp / "docs"
        folder.mkdir()
        files = {i: _passage_file(folder, i, r).resolve() for i, r in enumerate(rows)}
        order = list(range(n))
        rnd.shuffle(order)
        n_add = max(1, round(n * ADD_SHARE))
        current: set[int] = set()

        def rebuild(name: str) -> tuple[KnowledgeGraph, dict[str, Any]]:
            """A fresh store of the current files, in corpus order, compared with the live one."""
            say(f"{name}: from-scratch rebuild of {len(current)} documents…")
            g = _open(tmp / f"rebuild-{name}.db", config, index)
            try:
                report, took = _timed(lambda: g.ingest([files[i] for i in sorted(current)], index=index))
                _no_errors(report, f"rebuild after {name}")
                say(f"{name}: comparing the live store with the rebuild…")
                compared = _compare(_fingerprint(live), _fingerprint(g))
            except BaseException:
                g.close()
                raise
            return g, {"rebuild_documents": len(current), **_rebuild_times(took),
                       "rebuild_report": _ingest_counts(report), **compared}

        def step(name: str, documents: int, took: Timing, report: dict[str, Any], peer: dict[str, Any]) -> None:
            # Ratios of the seconds as reported, so that the build step, its own peer, is exactly 1.
            wall, cpu = round(took.wall, 3), round(took.cpu, 3)
            steps.append({"step": name, "documents": documents, "seconds": wall, "cpu_seconds": cpu,
                          "documents_per_second": round(documents / took.wall, 1),
                          "ms_per_document": round(1000 * took.wall / documents, 1), **peer,
                          "ratio_to_rebuild": round(wall / peer["rebuild_seconds"], 3),
                          "cpu_ratio_to_rebuild": round(cpu / peer["rebuild_cpu_seconds"], 3),
                          "report": report, "store": _store(live)})

        live = _open(tmp / "live.db", config, index)
        try:
            # 1. build
            build = order[: n - n_add]
            say(f"build: ingesting {len(build)} documents…")
            report, took = _timed(lambda: live.ingest([files[i] for i in build], index=index))
            _no_errors(report, "build")
            current.update(build)
            step("build", len(build), took, _ingest_counts(report),
                 {"rebuild_documents": len(build), **_rebuild_times(took), "rebuild_report": None, "equal": None,
                  "differences": {}, "equal_but_rounding": None, "first_differences": []})

            # 2. add
            added = order[n - n_add:]
            say(f"add: ingesting {len(added)} documents…")
            report, took = _timed(lambda: live.ingest([files[i] for i in added], index=index))
            _no_errors(report, "add")
            current.update(added)
            full, peer = rebuild("add")
            step("add", len(added), took, _ingest_counts(report), peer)

            # scaling: the same documents deleted one at a time from a small store and from the full rebuild
            try:
                result["per_document_delete"] = _single_deletes(full, tmp, config, index, rows, files, chars,
                                                                deletes, rnd, say)
            finally:
                full.close()

            # 3. delete
            gone = rnd.sample(sorted(current), max(1, round(len(current) * DELETE_SHARE)))
            say(f"delete: {len(gone)} documents in one call…")
            deleted, took = _timed(lambda: live.delete([str(files[i]) for i in gone]))
            # what the deletion left to encode (entities whose mentions changed), as `kg search` would do next
            encoded, took_index = _timed(lambda: live.index() if index else {})
            current.difference_update(gone)
            counts = {"documents": len(deleted.documents), "chunks": deleted.chunks, "mentions": deleted.mentions,
                      "entities": deleted.entities, "relations": deleted.relations, "relinked": deleted.relinked,
                      "delete_seconds": round(took.wall, 3), "index_seconds": round(took_index.wall, 3),
                      "encoded_after_delete": encoded}
            g, peer = rebuild("delete")
            g.close()
            step("delete", len(gone), Timing(took.wall + took_index.wall, took.cpu + took_index.cpu), counts, peer)

            # 4. change
            changed = rnd.sample(sorted(current), max(1, round(len(current) * CHANGE_SHARE)))
            for i in changed:
                _passage_file(folder, i, rows[i], _changed_text(rows[i]["text"], rnd, titles))
            say(f"change: re-ingesting {len(changed)} changed documents…")
            report, took = _timed(lambda: live.ingest([files[i] for i in changed], index=index))
            _no_errors(report, "change")
            g, peer = rebuild("change")
            g.close()
            step("change", len(changed), took, _ingest_counts(report), peer)
        finally:
            live.close()

    result["steps"] = steps
    result["all_equal"] = all(s["equal"] is not False for s in steps)
    result["all_equal_but_rounding"] = all(s["equal"] is not False or s["equal_but_rounding"] for s in steps)
    result["load_average_at_end"] = round(os.getloadavg()[0], 2)
    return result


def _rebuild_times(took: Timing) -> dict[str, float]:
    return {"rebuild_seconds": round(took.wall, 3), "rebuild_cpu_seconds": round(took.cpu, 3)}


def _no_errors(report: IngestReport, what: str) -> None:
    if report.errors:
        raise KGError(f"{what}: {len(report.errors)} document(s) failed to ingest; the first: {report.errors[0]}")


def _ingest_counts(report: IngestReport) -> dict[str, Any]:
    return {"documents": report.documents, "replaced": report.replaced, "skipped": report.skipped,
            "chunks": report.chunks, "mentions": report.mentions, "entities": report.entities,
            "relations": report.relations, "relinked": report.relinked, "errors": len(report.errors)}


def _single_deletes(full: KnowledgeGraph, tmp: Path, config: KGConfig, index: bool, rows: list[dict[str, Any]],
                    files: dict[int, Path], chars: dict[int, int], deletes: int, rnd: random.Random,
                    say: Callable[[str], None]) -> dict[str, Any]:
    """Delete the same documents one at a time from a ~10 % store and from ``full``, alternating which goes first."""
    n = len(rows)
    small_ids = sorted(rnd.sample(range(n), max(2, round(n * SMALL_SHARE))))
    victims = rnd.sample(small_ids, min(deletes, max(1, len(small_ids) // 2)))
    say(f"scaling: building a store of {len(small_ids)} documents…")
    small = _open(tmp / "small.db", config, index)
    try:
        report, took_build = _timed(lambda: small.ingest([files[i] for i in small_ids], index=index))
        _no_errors(report, "small store")
        stores = {"small": small, "full": full}
        before = {name: _store(g) for name, g in stores.items()}
        times: dict[str, list[Timing]] = {"small": [], "full": []}
        relinked = {"small": 0, "full": 0}
        say(f"scaling: deleting {len(victims)} documents one at a time from stores of "
            f"{before['small']['documents']} and {before['full']['documents']} documents…")
        for k, i in enumerate(victims):
            for name in ("small", "full") if k % 2 == 0 else ("full", "small"):
                rep, took = _timed(partial(stores[name].delete, str(files[i])))
                times[name].append(took)
                relinked[name] += rep.relinked
    finally:
        small.close()
    sizes: list[dict[str, Any]] = []
    for name in ("small", "full"):
        ms = [1000 * t.wall for t in times[name]]
        cpu_ms = [1000 * t.cpu for t in times[name]]
        per_kchar = [m / (chars[i] / 1000) for m, i in zip(ms, victims, strict=True)]
        sizes.append({"store": name, **{f"store_{k}": v for k, v in before[name].items()},
                      "deleted": len(ms), "mean_ms": round(statistics.fmean(ms), 2),
                      "median_ms": round(statistics.median(ms), 2), "max_ms": round(max(ms), 2),
                      "mean_ms_per_1000_chars": round(statistics.fmean(per_kchar), 2),
                      "mean_cpu_ms": round(statistics.fmean(cpu_ms), 2),
                      "median_cpu_ms": round(statistics.median(cpu_ms), 2), "relinked": relinked[name],
                      "ms": [round(m, 2) for m in ms], "cpu_ms": [round(m, 2) for m in cpu_ms]})
    small_row, full_row = sizes
    return {
        "documents": [rows[i]["id"] for i in victims], "document_chars": [chars[i] for i in victims],
        "mean_document_chars": round(statistics.fmean(chars[i] for i in victims), 1),
        "small_build_seconds": round(took_build.wall, 3), "sizes": sizes,
        "store_size_ratio": round(full_row["store_documents"] / small_row["store_documents"], 2),
        "ratio_mean": round(full_row["mean_ms"] / small_row["mean_ms"], 2),
        "ratio_median": round(full_row["median_ms"] / small_row["median_ms"], 2),
        "cpu_ratio_mean": round(full_row["mean_cpu_ms"] / small_row["mean_cpu_ms"], 2),
        "cpu_ratio_median": round(full_row["median_cpu_ms"] / small_row["median_cpu_ms"], 2),
        "ratio_per_1000_chars": round(full_row["mean_ms_per_1000_chars"] / small_row["mean_ms_per_1000_chars"], 2),
    }


def print_lifecycle_bench(r: dict[str, Any], console: Console) -> None:
    t = Table(title=f"lifecycle: {r['passages']:,} passages, {r['chars']:,} chars, seed {r['seed']}, index "
                    f"{'on' if r['index'] else 'off'}; each step against a from-scratch rebuild of its result",
              title_justify="left")
    t.add_column("step")
    for col in ("docs", "seconds", "cpu s", "docs/s", "ms/doc", "rebuild docs", "rebuild s", "rebuild cpu s",
                "ratio", "cpu ratio"):
        t.add_column(col, justify="right")
    t.add_column("vs. rebuild")
    for s in r["steps"]:
        t.add_row(STEP_LABELS.get(s["step"], s["step"]), f"{s['documents']:,}", f"{s['seconds']:.2f}",
                  f"{s['cpu_seconds']:.2f}", f"{s['documents_per_second']:.1f}", f"{s['ms_per_document']:.1f}",
                  f"{s['rebuild_documents']:,}", f"{s['rebuild_seconds']:.2f}", f"{s['rebuild_cpu_seconds']:.2f}",
                  f"{s['ratio_to_rebuild']:.3f}", f"{s['cpu_ratio_to_rebuild']:.3f}", _verdict(s))
    console.print(t)

    d = r["per_document_delete"]
    t = Table(title=f"per-document delete: the same {len(d['documents'])} documents (mean "
                    f"{d['mean_document_chars']:,.0f} chars) deleted one at a time from each store",
              title_justify="left")
    t.add_column("store")
    for col in ("docs", "chunks", "entities", "mean ms", "median ms", "max ms", "ms/1k chars", "mean cpu ms",
                "median cpu ms", "re-linked"):
        t.add_column(col, justify="right")
    for s in d["sizes"]:
        t.add_row(s["store"], f"{s['store_documents']:,}", f"{s['store_chunks']:,}",
                  f"{s['store_entities']:,}", f"{s['mean_ms']:.1f}", f"{s['median_ms']:.1f}", f"{s['max_ms']:.1f}",
                  f"{s['mean_ms_per_1000_chars']:.1f}", f"{s['mean_cpu_ms']:.1f}", f"{s['median_cpu_ms']:.1f}",
                  str(s["relinked"]))
    console.print(t)
    console.print(f"full / small: mean {d['ratio_mean']:.2f}, median {d['ratio_median']:.2f}, per 1,000 chars "
                  f"{d['ratio_per_1000_chars']:.2f}; CPU mean {d['cpu_ratio_mean']:.2f}, median "
                  f"{d['cpu_ratio_median']:.2f}; for a store {d['store_size_ratio']:.1f}× larger "
                  "(1 = the cost follows the document, not the corpus)")
    last = r["steps"][-1]["store"]
    console.print(f"live store at the end: {last['documents']:,} documents, {last['chunks']:,} chunks, "
                  f"{last['entities']:,} entities, {last['relations']:,} relations")
    for s in r["steps"]:
        if s["equal"] is False and s["equal_but_rounding"]:
            for table, v in s["vectors"].items():
                console.print(f"* after {s['step']}: {v['paired']} {table} vectors differ from the rebuild's by "
                              f"float rounding only (cosine ≥ {v['min_cosine']:.6f}, largest difference "
                              f"{v['max_abs_diff']:.2g}); every other row is equal")
        elif s["equal"] is False:
            console.print(f"after {s['step']}, the live store differs from its rebuild; the first differences:")
            for line in s["first_differences"]:
                console.print(f"  {escape(line)}")
    busy = max(r["load_average_at_start"], r["load_average_at_end"])
    if r["cpu_cores"] and busy > r["cpu_cores"] / 2:
        console.print(f"[yellow]note:[/yellow] 1-minute load average up to {busy:.1f} on {r['cpu_cores']} cores "
                      "(other work was running): the timings are inflated")


def _verdict(s: dict[str, Any]) -> str:
    """How a step's store compares with its rebuild, in a few words."""
    if s["equal"] is None:
        return "(is the rebuild)"
    if s["equal"]:
        return "equal"
    if s["equal_but_rounding"]:
        return "[yellow]equal*[/yellow]"  # * explained under the tables
    return f"[red]differs ({sum(s['differences'].values())} rows)[/red]"
