"""Concurrent readers: while a writer process ingests the lifecycle corpus batch by batch, replaces a changed
document and deletes another, two reader processes search, list documents and read stats in a loop. No reader
may see an error ("database is locked" least of all), a document that is not whole, or a state the writer never
committed; the store the writer leaves must equal a clean build of the final corpus.

A document is whole when it has the chunks of a clean build, for one of the versions of its file that the
writer ingests, and mentions where a clean build has them; a search result must be a chunk of a clean build,
word for word. Mention counts are compared only once the writer is done: which spans are mentions depends on
the names the other documents bring, so a document stored early gains mentions as later ones arrive. The
documents a reader sees at once are a committed state: the first k files in the order the writer ingests
them, or the final corpus.

The last tests replay, in one process and deterministically, the interleavings that the loop can only hit by
chance: a writer replacing a document while a reader encodes its chunks or entities, or between a reader's
ranking and its reading the ranked chunks; and an ingest waiting for its next document while another
connection wants to write.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from lifecycle_corpus import ROOT, child_env, describe, fingerprint_of, revised, write_corpus

from extract.pipeline import Extractor
from kg.api import KGConfig, KnowledgeGraph

CHANGED = "people/margaret_holloway.txt"  # replaced by a longer version once every batch is in
DELETED = "letters/eleanor_marsh_1908.md"  # deleted last
BATCH = 14  # files per ingest
PAUSE_S = 0.3  # between the writer's steps, so that readers see each intermediate state
READER_IDLE_S = 0.3  # between a reader's iterations: leave the writer some of the two cores
MIN_ACTIVE_ITERATIONS = 3
TIMEOUT_S = 300
QUESTIONS = [
    "Who worked with Margaret Holloway on the Forth Estuary Survey?",
    "Which lighthouse did the Northern Lighthouse Board refit?",
    "What did Anna Lindqvist publish about the Norwegian fjords?",
    "storm warnings Bergen Marine Station",
    "Where was Samuel Adeyemi born?",
]

WRITER = """
import json, sys, time, traceback
from pathlib import Path
from kg.api import KnowledgeGraph

cfg = json.loads(Path(sys.argv[1]).read_text())
out = {"steps": [], "error": None}
try:
    g = KnowledgeGraph(cfg["db"])
    g.warm_up()  # models load before the readers are waited for, so the ingest itself overlaps with them
    t0 = time.monotonic()
    while not all(Path(r).exists() for r in cfg["ready"]):
        if time.monotonic() - t0 > cfg["timeout"]:
            raise TimeoutError("the readers never got ready")
        time.sleep(0.05)
    Path(cfg["started"]).touch()
    for step in cfg["steps"]:
        t1 = time.monotonic()
        if "delete" in step:
            Path(step["delete"]).unlink()
            r = g.delete([step["delete"]])
            out["steps"].append({"deleted": r.documents})
        else:
            if "write" in step:
                Path(step["write"][0]).write_text(step["write"][1], encoding="utf-8")
            r = g.ingest(step["paths"])
            out["steps"].append({"documents": r.documents, "replaced": r.replaced, "skipped": r.skipped,
                                 "errors": [str(e) for e in r.errors]})
        out["steps"][-1]["seconds"] = round(time.monotonic() - t1, 2)
        time.sleep(cfg["pause"])
    g.close()
except BaseException:
    out["error"] = traceback.format_exc()
finally:
    Path(cfg["done"]).touch()
    Path(sys.argv[2]).write_text(json.dumps(out))
"""

READER = """
import json, sys, time, traceback
from pathlib import Path
from kg.api import KnowledgeGraph

cfg = json.loads(Path(sys.argv[1]).read_text())
started, done = Path(cfg["started"]), Path(cfg["done"])
whole = {(s, n): (c, m > 0) for s, n, c, m in cfg["whole"]}  # (source, characters) -> (chunks, mentioned)
texts = {(s, o, t) for s, o, t in cfg["chunks"]}
final = {(s, n, c, m) for s, n, c, m in cfg["final"]}
order = cfg["order"]  # sources in the order the writer ingests them
committed = [set(order[:k]) for k in range(len(order) + 1)] + [{s for s, _, _, _ in final}]
out = {"iterations": 0, "active": 0, "errors": [], "violations": [], "documents_seen": [],
       "slowest": {"search": 0.0, "documents": 0.0, "stats": 0.0}}
g = KnowledgeGraph(cfg["db"])

def note(kind, text):
    if len(out[kind]) < 20:
        out[kind].append(text)

try:
    g.search(cfg["questions"][0], k=5)  # loads the models
except BaseException:
    note("errors", "warm-up: " + traceback.format_exc())
Path(sys.argv[2] + ".ready").touch()
t0 = time.monotonic()
while True:
    last = done.exists()
    times = [time.monotonic()]
    try:
        results = g.search(cfg["questions"][out["iterations"] % len(cfg["questions"])], k=5)
        times.append(time.monotonic())
        docs = g.documents()
        times.append(time.monotonic())
        stats = g.stats()
        times.append(time.monotonic())
    except BaseException:
        note("errors", traceback.format_exc())
    else:
        for d in docs:
            if (d.chunks, d.mentions > 0) != whole.get((d.source, d.chars)):
                note("violations", f"document {d.source} ({d.chars} characters) has {d.chunks} chunks and "
                                   f"{d.mentions} mentions; (chunks, mentioned) in a clean build: "
                                   f"{whole.get((d.source, d.chars))}")
        for r in results:
            if (r.source, r.ord, r.text) not in texts:
                note("violations", f"search result {r.source} #{r.ord} is no chunk of a clean build: {r.text!r}")
        present = {d.source for d in docs}
        if present not in committed:
            note("violations", f"{len(present)} documents that the writer never committed together: "
                               f"{sorted(present ^ min(committed, key=lambda c: len(c ^ present)))} differ")
        if not 0 <= stats.documents <= len(order):
            note("violations", f"stats count {stats.documents} documents")
        out["documents_seen"].append(len(docs))
        if last and {(d.source, d.chars, d.chunks, d.mentions) for d in docs} != final:
            note("violations", f"after the writer finished: {len(docs)} documents, not the final corpus")
    for op, a, b in zip(out["slowest"], times, times[1:]):
        out["slowest"][op] = max(out["slowest"][op], round(b - a, 2))
    out["iterations"] += 1
    out["active"] += not last and started.exists()  # the iteration overlapped the writer's work
    if last or time.monotonic() - t0 > cfg["timeout"]:
        break
    time.sleep(cfg["idle"])
g.close()
Path(sys.argv[2]).write_text(json.dumps(out))
"""


def clean_build(db: Path, paths: list[Path]) -> tuple[list[tuple[str, int, int, int]], list[tuple[str, int, str]]]:
    """(source, characters, chunks, mentions) of each document and (source, ord, text) of each chunk of a clean
    build of ``paths``, without vectors: the readers need only these."""
    with KnowledgeGraph(db, KGConfig.from_env()) as g:
        report = g.ingest(paths, index=False)
        assert not report.errors, report.errors
        docs = [(d.source, d.chars, d.chunks, d.mentions) for d in g.documents()]
    con = sqlite3.connect(db)
    try:
        chunks = [tuple(r) for r in con.execute(
            "SELECT d.source, c.ord, c.text FROM chunks c JOIN documents d ON d.id = c.document_id")]
    finally:
        con.close()
    return docs, chunks  # type: ignore[return-value]


def store_checks(db: Path) -> list[str]:
    """SQLite's integrity and foreign-key checks, and chunks left without a vector."""
    con = sqlite3.connect(db)
    try:
        integrity = [r[0] for r in con.execute("PRAGMA integrity_check")]
        fk = con.execute("PRAGMA foreign_key_check").fetchall()
        unencoded = con.execute("SELECT count(*) FROM chunks c LEFT JOIN chunk_vectors v ON v.chunk_id = c.id "
                                "WHERE v.chunk_id IS NULL").fetchone()[0]
    finally:
        con.close()
    return ([] if integrity == ["ok"] else [f"integrity_check: {integrity[:10]}"]) + (
        [f"foreign_key_check: {fk[:10]}"] if fk else []) + ([f"{unencoded} chunks have no vector"] if unencoded else [])


def wait(proc: subprocess.Popen, name: str, log: Path, timeout: float) -> None:
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"the {name} ran past {timeout:.0f} s:\n{log.read_text()[-3000:]}")
    if proc.returncode != 0:
        pytest.fail(f"the {name} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")


def test_readers_see_only_whole_documents_and_no_errors_while_a_writer_ingests(tmp_path: Path) -> None:
    folder = tmp_path / "corpus"
    files = write_corpus(folder)
    changed, deleted = folder / CHANGED, folder / DELETED
    original, letter = changed.read_text(encoding="utf-8"), deleted.read_text(encoding="utf-8")

    # A clean build of the final corpus, and one of the two files it lacks: what whole documents look like.
    changed.write_text(revised(original), encoding="utf-8")
    deleted.unlink()
    final_docs, final_chunks = clean_build(tmp_path / "final.db", [folder])
    changed.write_text(original, encoding="utf-8")
    deleted.write_text(letter, encoding="utf-8")
    first_docs, first_chunks = clean_build(tmp_path / "first.db", [changed, deleted])

    db = tmp_path / "kg.db"
    KnowledgeGraph(db, KGConfig.from_env()).close()  # migrated before anyone opens it
    started, done = tmp_path / "writer.started", tmp_path / "writer.done"
    readers = [tmp_path / f"reader{i}.json" for i in range(2)]
    steps: list[dict[str, Any]] = [{"paths": [str(f) for f in files[i : i + BATCH]]}
                                   for i in range(0, len(files), BATCH)]
    steps.append({"paths": [str(changed)], "write": [str(changed), revised(original)]})
    steps.append({"delete": str(deleted)})
    common = {"db": str(db), "started": str(started), "done": str(done), "timeout": TIMEOUT_S}
    (tmp_path / "writer-config.json").write_text(json.dumps(
        {**common, "ready": [f"{r}.ready" for r in readers], "steps": steps, "pause": PAUSE_S}))
    (tmp_path / "reader-config.json").write_text(json.dumps(
        {**common, "questions": QUESTIONS, "idle": READER_IDLE_S, "whole": sorted(set(first_docs + final_docs)),
         "final": final_docs, "chunks": sorted(set(first_chunks + final_chunks)),
         "order": [str(f.resolve()) for f in files]}))

    procs = []
    for name, code, config, out in [("writer", WRITER, "writer-config.json", tmp_path / "writer.json"),
                                    *[(f"reader {i}", READER, "reader-config.json", r)
                                      for i, r in enumerate(readers)]]:
        log = tmp_path / f"{out.stem}.log"
        with log.open("wb") as fh:
            procs.append((name, log, subprocess.Popen(
                [sys.executable, "-c", code, str(tmp_path / config), str(out)], cwd=ROOT, env=child_env(),
                stdout=fh, stderr=subprocess.STDOUT)))
    try:
        for name, log, proc in procs:
            wait(proc, name, log, TIMEOUT_S)
    finally:
        for _, _, proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    writer = json.loads((tmp_path / "writer.json").read_text())
    assert writer["error"] is None, writer["error"]
    ingests = [s for s in writer["steps"] if "documents" in s]
    assert [s["errors"] for s in ingests] == [[]] * len(ingests)
    assert sum(s["documents"] for s in ingests) == len(files) + 1
    assert ingests[-1]["replaced"] == 1
    assert writer["steps"][-1]["deleted"] == [str(deleted.resolve())]

    results = [json.loads(r.read_text()) for r in readers]
    print(f"writer steps: {writer['steps']}")
    for i, r in enumerate(results):
        print(f"reader {i}: {r['iterations']} iterations, {r['active']} while the writer ran, the slowest "
              f"{r['slowest']} s; documents seen {r['documents_seen']}")
    problems = [f"reader {i} error:\n{e}" for i, r in enumerate(results) for e in r["errors"]]
    problems += [f"reader {i}: {v}" for i, r in enumerate(results) for v in r["violations"]]
    if problems:
        locked = sum("database is locked" in p for p in problems)
        pytest.fail(f"{len(problems)} problems ({locked} 'database is locked'):\n" + "\n".join(problems),
                    pytrace=False)
    assert all(r["active"] >= MIN_ACTIVE_ITERATIONS for r in results), (
        f"readers must search while the writer works: {[r['active'] for r in results]} iterations")

    assert store_checks(db) == []
    diff = describe(fingerprint_of(tmp_path / "final.db", vectors=False), fingerprint_of(db, vectors=False), folder)
    if diff:
        pytest.fail("the store differs from a clean build of the final corpus (first: clean build, second: "
                    "batched ingest, replace and delete under readers):\n" + "\n".join(diff), pytrace=False)


# -- the races, replayed -----------------------------------------------------------------------------------------
SMALL = ["organisations/university_of_edinburgh.txt", CHANGED, "places/edinburgh.txt"]
UNIQUE = " by James Lawson"  # the only mention of an entity: the founder of the University of Edinburgh


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[KnowledgeGraph, KnowledgeGraph, Path]]:
    """A writer and a reader on one store that holds three documents of the corpus, not yet encoded."""
    folder = tmp_path / "corpus"
    write_corpus(folder)
    db = tmp_path / "kg.db"
    writer = KnowledgeGraph(db, KGConfig.from_env())
    report = writer.ingest([folder / name for name in SMALL], index=False)
    assert report.documents == len(SMALL) and not report.errors
    reader = KnowledgeGraph(db, KGConfig.from_env())
    yield writer, reader, folder
    reader.close()
    writer.close()


class Once:
    """Calls ``then``, after running ``action`` on the first call only; ``done`` says whether it ran."""

    def __init__(self, action: Callable[[], None], then: Callable[..., Any]):
        self.action, self.then, self.done = action, then, False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not self.done:
            self.done = True
            self.action()
        return self.then(*args, **kwargs)


def replace(writer: KnowledgeGraph, path: Path, text: str) -> Callable[[], None]:
    def action() -> None:
        path.write_text(text, encoding="utf-8")
        report = writer.ingest([path], index=False)
        assert report.replaced == 1, report

    return action


def chunk_texts(db: Path) -> set[tuple[str, int, str]]:
    con = sqlite3.connect(db)
    try:
        return {tuple(r) for r in con.execute(  # type: ignore[misc]
            "SELECT d.source, c.ord, c.text FROM chunks c JOIN documents d ON d.id = c.document_id")}
    finally:
        con.close()


def test_indexing_survives_a_document_replaced_while_it_encodes_the_chunks(
        pair: tuple[KnowledgeGraph, KnowledgeGraph, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """An index run finds chunks without vectors and encodes them; meanwhile the writer replaces their document,
    so some of the chunks it encoded are gone when it stores their vectors. (Searches never encode.)"""
    writer, reader, folder = pair
    target = folder / CHANGED
    splade = reader.retriever.splade
    encode = Once(replace(writer, target, revised(target.read_text(encoding="utf-8"))), splade.encode_documents)
    monkeypatch.setattr(splade, "encode_documents", encode)
    reader.index()
    assert encode.done and reader.search("Who worked with Margaret Holloway?", k=5)
    monkeypatch.undo()
    assert reader.search("Who worked with Margaret Holloway?", k=5)
    writer.index()  # what the writer's ingest does after writing
    assert store_checks(reader.path) == []


def test_indexing_survives_an_entity_pruned_while_it_embeds_the_entities(
        pair: tuple[KnowledgeGraph, KnowledgeGraph, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """An index run embeds the entities; meanwhile the writer replaces the only document that mentions one of
    them, and the entity is gone when the embedding is stored."""
    writer, reader, folder = pair
    target = folder / SMALL[0]
    text = target.read_text(encoding="utf-8")
    assert UNIQUE in text
    dense = reader.retriever.dense
    encode = Once(replace(writer, target, text.replace(UNIQUE, "")), dense.encode)
    monkeypatch.setattr(dense, "encode", encode)
    reader.index()
    assert encode.done and reader.search("Who founded the University of Edinburgh?", k=5)
    monkeypatch.undo()
    assert reader.search("Who founded the University of Edinburgh?", k=5)
    writer.index()
    assert store_checks(reader.path) == []


def test_a_search_survives_a_document_replaced_between_ranking_and_reading_the_chunks(
        pair: tuple[KnowledgeGraph, KnowledgeGraph, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """The reader's index is current when it ranks; the writer replaces the top document before the reader
    reads the ranked chunks. Results are either version's chunks, never an error."""
    writer, reader, folder = pair
    query = "Margaret Holloway Forth Estuary Survey tidal observations"
    reader.index()
    reader.search(query, k=5)  # builds the index
    target = folder / CHANGED
    before = chunk_texts(reader.path)
    rank = Once(replace(writer, target, revised(target.read_text(encoding="utf-8"))), reader.retriever._encode_query)
    monkeypatch.setattr(reader.retriever, "_encode_query", rank)
    results = reader.search(query, k=5)
    assert rank.done and results
    allowed = before | chunk_texts(reader.path)
    assert [(r.source, r.ord) for r in results if (r.source, r.ord, r.text) not in allowed] == []


def test_an_ingest_waiting_for_its_next_document_holds_no_write_lock(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Records reach the store one at a time while the next ones are extracted, which can take long (a spaCy
    batch of long documents). Meanwhile SQLite's write lock must be free: anything else that writes to the file
    (sqlite3 tools, a backup) gives up with "database is locked" after the busy timeout."""
    folder = tmp_path / "corpus"
    write_corpus(folder)
    db = tmp_path / "kg.db"
    gap, resume = threading.Event(), threading.Event()
    run = Extractor.run

    def slow_run(self: Extractor, docs: Any, progress: Any = None) -> Iterator[Any]:
        for i, rec in enumerate(run(self, docs, progress)):
            yield rec
            if i == 0:  # the next document takes a while
                time.sleep(0.5)  # time for the store's writer thread to write the first
                gap.set()
                resume.wait(30)

    monkeypatch.setattr(Extractor, "run", slow_run)
    failures: list[BaseException] = []

    def ingest() -> None:
        try:
            with KnowledgeGraph(db, KGConfig.from_env()) as g:
                g.ingest([folder / name for name in SMALL], index=False)
        except BaseException as e:
            failures.append(e)
            gap.set()

    thread = threading.Thread(target=ingest)
    thread.start()
    try:
        assert gap.wait(120) and not failures, failures
        con = sqlite3.connect(db, timeout=0.2, isolation_level=None)
        try:
            con.execute("BEGIN IMMEDIATE")
            con.execute("ROLLBACK")
            locked = None
        except sqlite3.OperationalError as e:
            locked = str(e)
        finally:
            con.close()
    finally:
        resume.set()
        thread.join()
    assert not failures, failures
    assert locked is None, f"the ingest held the write lock while it waited for its next document: {locked}"
