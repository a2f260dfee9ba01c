"""Crash safety: ``kg ingest`` killed with SIGKILL at random points leaves a store that is consistent, holds each
document wholly or not at all, and that a re-run completes into exactly what a clean build holds.

Each run starts ``kg ingest`` on the lifecycle corpus as a subprocess, watches its progress in the store from
this process and kills it at a seeded point of one phase: while documents are being written, while chunks are
being encoded, or while entities are being embedded (``ingest`` indexes after extraction); deeper runs (``slow``)
add kills at random times and two kills in a row. After each kill the store must pass SQLite's integrity and
foreign-key checks and each document in it must be whole: its row and chunks are the reference build's, it has
mentions where the reference has, and what vectors it has are the reference's. Then the ingest is run to
completion and the store must equal the reference, vectors included.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lifecycle_corpus import ROOT, child_env, compact, describe, fingerprint_of, write_corpus

from kg.api import KGConfig, KnowledgeGraph

SEED = 1889
RUNS = 3  # one per phase; the slow runs add random times and double kills
SLOW_RUNS = 12
POLL_S = 0.005
RUN_TIMEOUT_S = 180

# ``kg ingest`` with smaller batches. The corpus is small enough that a real ingest extracts it in one spaCy
# batch and writes it in one commit; to let kills land between commits, this runs the same command with records
# streamed a few at a time and a commit every few documents. Nothing else changes.
SMALL_COMMITS = """
import sys
from kg.api import KGConfig
from kg.cli import main
from store.db import Database

Database.batch.__defaults__ = (3, 1.0)  # max_items, max_seconds
_from_env = KGConfig.from_env

def from_env():
    cfg = _from_env()
    cfg.extract.batch_size = 2
    return cfg

KGConfig.from_env = staticmethod(from_env)
sys.argv[0] = "kg"
main()
"""


def kg_ingest(db: Path, folder: Path, small_commits: bool = False) -> list[str]:
    """The command line of ``kg ingest``, run from this checkout with this interpreter."""
    head = [sys.executable, "-c", SMALL_COMMITS] if small_commits else [sys.executable, "-m", "kg.cli"]
    return [*head, "--db", str(db), "ingest", str(folder), "--quiet", "--processes", "1"]


def per_document(fp: dict[str, list[tuple[Any, ...]]]) -> dict[str, dict[str, Any]]:
    """Each document's own rows as far as they do not depend on the other documents: its row (with whether it
    is about an entity, not which) and its chunks; and how many mentions it has. Which spans are mentions does
    depend on the others: a name that a later document brings is matched in the earlier ones too."""
    out: dict[str, dict[str, Any]] = defaultdict(lambda: {"document": [], "chunks": [], "mentions": 0})
    for row in fp["documents"]:
        out[row[0]]["document"].append((*row[:5], row[5] is not None))
    for row in fp["chunks"]:
        out[row[0][0]]["chunks"].append(row)
    for row in fp["mentions"]:
        out[row[0][0][0]]["mentions"] += 1
    return {src: {k: sorted(v, key=repr) if isinstance(v, list) else v for k, v in parts.items()}
            for src, parts in out.items()}


@dataclass
class Reference:
    folder: Path
    files: list[Path]
    db: Path
    fp: dict[str, list[tuple[Any, ...]]]
    docs: dict[str, dict[str, Any]]
    n_docs: int
    n_chunks: int
    n_entity_embeddings: int
    seconds: float


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    """A clean build of the corpus, vectors included, through the API in this process."""
    base = tmp_path_factory.mktemp("crash")
    folder = base / "corpus"
    files = write_corpus(folder)
    db = base / "reference.db"
    t0 = time.perf_counter()
    with KnowledgeGraph(db, KGConfig.from_env()) as g:
        report = g.ingest([folder])
    assert not report.errors, report.errors
    fp = fingerprint_of(db)
    return Reference(folder, files, db, fp, per_document(fp), len(fp["documents"]), len(fp["chunks"]),
                     len(fp["entity_embeddings"]), time.perf_counter() - t0)


# -- killing ------------------------------------------------------------------------------------------------------
@dataclass
class Kill:
    """Where to kill: once ``phase`` is reached, ``delay`` seconds later. ``writing``: ``documents`` are
    committed; ``indexing``: every document is, not every chunk vector (the ingest re-links or encodes chunks);
    ``embedding``: every chunk vector is, no entity embedding; ``time``: at once (``delay`` after the start)."""

    phase: str
    delay: float
    documents: int = 0
    small_commits: bool = False


@dataclass
class Killed:
    killed: bool
    seconds: float
    progress: tuple[int, int, int]  # documents, chunk vectors, entity embeddings last seen before the kill


def plan(run: int, ref: Reference) -> list[Kill]:
    """The kills of one run, from a seeded generator: runs 0, 1 and 2 kill once in each phase; later runs kill
    in a random phase or at a random time, and some kill a second time (at a random time: the counts the phases
    go by start where the first kill left them) before the run that completes."""
    rng = random.Random(SEED * 1000 + run)
    phases = ["writing", "indexing", "embedding"]
    first = phases[run] if run < RUNS else rng.choice([*phases, "time", "time"])
    kills = []
    for phase in [first] if run < RUNS else [first, "time"][: rng.choice([1, 1, 2])]:
        if phase == "writing":
            kills.append(Kill(phase, rng.uniform(0.0, 0.05), rng.randint(1, ref.n_docs - 1), small_commits=True))
        elif phase == "time":
            kills.append(Kill(phase, rng.uniform(0.5, 4.0 + ref.seconds), small_commits=rng.random() < 0.5))
        else:
            kills.append(Kill(phase, rng.uniform(0.0, 0.2)))
    return kills


def progress(con: sqlite3.Connection) -> tuple[int, int, int] | None:
    """(documents, chunk vectors, entity embeddings) committed so far; None before the tables exist."""
    try:
        row = con.execute("SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM chunk_vectors), "
                          "(SELECT count(*) FROM entity_embeddings)").fetchone()
    except sqlite3.Error:
        return None
    return int(row[0]), int(row[1]), int(row[2])


def reached(kill: Kill, seen: tuple[int, int, int] | None, ref: Reference, elapsed: float) -> bool:
    if kill.phase == "time":
        return elapsed >= kill.delay
    if seen is None:
        return False
    docs, vectors, embeddings = seen
    if kill.phase == "writing":
        return docs >= kill.documents
    if kill.phase == "indexing":
        return docs == ref.n_docs and vectors < ref.n_chunks
    return docs == ref.n_docs and vectors == ref.n_chunks and embeddings < ref.n_entity_embeddings


def run_and_kill(db: Path, ref: Reference, kill: Kill, log: Path) -> Killed:
    """Start ``kg ingest``, wait for the kill point and SIGKILL its process group; a run that ends first is not
    killed."""
    with log.open("ab") as out:
        proc = subprocess.Popen(kg_ingest(db, ref.folder, kill.small_commits), cwd=ROOT, env=child_env(),
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    t0 = time.monotonic()
    con: sqlite3.Connection | None = None
    seen = None
    try:
        while proc.poll() is None:
            elapsed = time.monotonic() - t0
            assert elapsed < RUN_TIMEOUT_S, f"kg ingest ran for {elapsed:.0f} s:\n{log.read_text()[-3000:]}"
            if con is None and db.exists():
                con = sqlite3.connect(db, timeout=5)
            if con is not None:
                seen = progress(con) or seen
            if reached(kill, seen, ref, elapsed):
                if kill.phase != "time":
                    time.sleep(kill.delay)
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                break
            time.sleep(POLL_S)
        proc.wait()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if con is not None:
            con.close()
    if proc.returncode not in (0, -signal.SIGKILL):
        pytest.fail(f"kg ingest failed with exit code {proc.returncode}:\n{log.read_text()[-3000:]}")
    return Killed(proc.returncode == -signal.SIGKILL, time.monotonic() - t0, seen or (0, 0, 0))


# -- checks after a kill -----------------------------------------------------------------------------------------
def sqlite_checks(db: Path) -> list[str]:
    con = sqlite3.connect(db)
    try:
        integrity = [r[0] for r in con.execute("PRAGMA integrity_check")]
        fk = con.execute("PRAGMA foreign_key_check").fetchall()
    finally:
        con.close()
    problems = [] if integrity == ["ok"] else [f"integrity_check: {integrity[:10]}"]
    return problems + ([f"foreign_key_check: {fk[:10]}"] if fk else [])


def has_documents_table(db: Path) -> bool:
    con = sqlite3.connect(db)
    try:
        return bool(con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'documents'").fetchone())
    finally:
        con.close()


def whole_documents(fp: dict[str, list[tuple[Any, ...]]], ref: Reference) -> list[str]:
    """Every document in the store is whole: its row and its chunks are the reference's, it has mentions if the
    reference's has, and its chunk vectors are the reference's."""
    problems = []
    for src, parts in per_document(fp).items():
        want = ref.docs.get(src)
        if want is None:
            problems.append(f"{src}: not in the reference")
            continue
        for part in ("document", "chunks"):
            got, exp = parts[part], want[part]
            if got != exp:
                here = compact([r for r in got if r not in exp][:3], ref.folder)
                there = compact([r for r in exp if r not in got][:3], ref.folder)
                problems.append(f"{src}: {part} differ ({len(got)} rows, reference {len(exp)}): "
                                f"only here {here}, only in the reference {there}")
        if bool(parts["mentions"]) != bool(want["mentions"]):
            problems.append(f"{src}: {parts['mentions']} mentions, reference {want['mentions']}")
    extra = Counter(map(repr, fp["chunk_vectors"])) - Counter(map(repr, ref.fp["chunk_vectors"]))
    if extra:
        problems.append(f"{sum(extra.values())} chunk vectors differ from the reference's")
    return problems


def check_after_kill(db: Path, ref: Reference) -> tuple[list[str], int]:
    """What is wrong with a killed store, and how many documents it holds."""
    if not db.exists() or not has_documents_table(db):
        return (sqlite_checks(db) if db.exists() else []), 0
    problems = sqlite_checks(db)
    if problems:  # the rest reads the store through SQL that a broken file may not survive
        return problems, -1
    fp = fingerprint_of(db)
    return problems + whole_documents(fp, ref), len(fp["documents"])


def missing_vectors(db: Path) -> dict[str, int]:
    con = sqlite3.connect(db)
    try:
        return {
            "chunks without a vector": con.execute(
                "SELECT count(*) FROM chunks c LEFT JOIN chunk_vectors v ON v.chunk_id = c.id "
                "WHERE v.chunk_id IS NULL").fetchone()[0],
            "live entities without an embedding": con.execute(
                "SELECT count(*) FROM entities e LEFT JOIN entity_embeddings v ON v.entity_id = e.id "
                "WHERE v.entity_id IS NULL AND e.merged_into_id IS NULL").fetchone()[0],
        }
    finally:
        con.close()


# -- the runs ----------------------------------------------------------------------------------------------------
def runs() -> Iterator[Any]:
    yield from range(RUNS)
    for run in range(RUNS, SLOW_RUNS):
        yield pytest.param(run, marks=pytest.mark.slow)


@pytest.mark.parametrize("run", list(runs()))
def test_killed_ingest_leaves_whole_documents_and_a_rerun_equals_a_clean_build(
        reference: Reference, tmp_path: Path, run: int) -> None:
    db, log = tmp_path / "kg.db", tmp_path / "ingest.log"
    kills = plan(run, reference)
    for kill in kills:
        killed = run_and_kill(db, reference, kill, log)
        assert killed.killed or kill.phase == "time", (
            f"{kill} was never reached: the ingest ended first after {killed.seconds:.1f} s, last seen "
            f"{killed.progress}")
        problems, n_docs = check_after_kill(db, reference)
        print(f"run {run}: {kill} -> killed={killed.killed} after {killed.seconds:.1f} s with "
              f"{n_docs} documents stored (last seen {killed.progress})")
        if problems:
            pytest.fail(f"after {kill}:\n" + "\n".join(problems), pytrace=False)

    with KnowledgeGraph(db, KGConfig.from_env()) as g:  # the re-run: `kg ingest` is a thin shell over this
        report = g.ingest([reference.folder])
    assert not report.errors, report.errors
    assert sqlite_checks(db) == []
    missing = missing_vectors(db)
    diff = describe(reference.fp, fingerprint_of(db), reference.folder)
    if diff or any(missing.values()):
        pytest.fail(f"after {kills} and a re-run ({report.documents} documents written, {report.skipped} "
                    f"skipped), the store differs from a clean build; {missing}. Differences (first: clean build, "
                    "second: re-run):\n" + "\n".join(diff), pytrace=False)
