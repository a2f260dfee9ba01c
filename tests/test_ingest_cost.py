"""Per-document cost: writing, replacing and deleting a document that mentions the commonest names does the
same work in a store five times bigger, and an ingest never reloads every name per changed document.

Work is counted, not timed: SQLite virtual-machine steps, document-local entities read into Python, and loads
of the whole name list.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from conftest import write
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, text

import kg.pipeline
import store.resolve
from extract.normalize import normalize
from kg.api import KnowledgeGraph
from store.db import Database
from store.fingerprint import differences, fingerprint
from store.records import AliasRecord, ChunkRecord, DocumentRecord, EvidenceRecord, MentionRecord, NewEntity
from store.resolve import Local, clusters
from store.writer import delete_document, gazetteer_names, write_document

COMMON = [("United States", "GPE"), ("London", "GPE"), ("World War II", "EVENT")]
SYLLABLES = ["ka", "lo", "mi", "ra", "ven", "tor", "bel", "dun", "sa", "qui", "zor", "fel", "mar", "ost"]


def word(i: int) -> str:
    out = []
    i += 1
    while i:
        i, r = divmod(i, len(SYLLABLES))
        out.append(SYLLABLES[r])
    return "".join(out).capitalize()


def record(i: int, variant: int = 0) -> DocumentRecord:
    """A document as extraction gives it: the three common names (London a person now and then, the United
    States now and then an untyped gazetteer match too), two people of its own, and a relation per pair."""
    ents = list(COMMON)
    if i % 20 == 7:
        ents[1] = ("London", "PERSON")
    if i % 5 == 3:
        ents.append(("United States", "MISC"))
    ents += [(f"{word(i)} {word(i + 7919 + variant)}", "PERSON"), (f"{word(i + 104729)} Ostson", "PERSON")]
    refs: dict[str, int] = {}
    new: list[NewEntity] = []
    for name, typ in ents:
        if normalize(name) not in refs:
            refs[normalize(name)] = -(len(new) + 1)
            new.append(NewEntity(refs[normalize(name)], name, typ, None, normalize(name)))
    body = f"Record {i}. " + " ".join(f"{name} was there." for name, _ in ents)
    mentions, aliases, pos = [], [], 0
    for name, typ in ents:
        s = body.index(name, pos)
        pos = s + len(name)
        ref = refs[normalize(name)]
        mentions.append(MentionRecord(0, s, pos, name, typ, "gazetteer" if typ == "MISC" else "ner", 0.9, 0,
                                      len(body), ref))
        aliases.append(AliasRecord(ref, name, normalize(name), "mention", 0))
    evidence = [EvidenceRecord(a, b, "related_to", 0, 0, len(body)) for a in range(len(mentions))
                for b in range(a + 1, len(mentions)) if mentions[a].entity != mentions[b].entity]
    digest = hashlib.sha256(f"{i}/{variant}".encode()).hexdigest()
    return DocumentRecord(
        source=f"records/{i}.txt", title=f"record {i}", content_hash=digest, n_chars=len(body),
        chunks=[ChunkRecord(0, body, 0, len(body))], new_entities=new, mentions=mentions, aliases=aliases,
        evidence=evidence, names=sorted({n for n, t in ents if t != "MISC"}), title_names_entity=False)


def build(path: Path, records: list[DocumentRecord]) -> Database:
    db = Database(path)
    with db.batch(max_items=1000, max_seconds=60) as batch:
        for rec in records:
            with batch.item() as s:
                write_document(s, rec)
    return db


def cost(db: Database, change: Callable) -> tuple[int, int]:  # type: ignore[type-arg]
    """(SQLite VM steps in hundreds, local entities read into Python) of one change in one transaction."""
    steps = [0]
    read = [0]
    real = store.resolve.Local

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        read[0] += 1
        return real(*args, **kwargs)

    def tick() -> int:
        steps[0] += 1
        return 0

    store.resolve.Local = counting  # type: ignore[misc,assignment]
    try:
        with db.write() as s:
            raw = s.connection().connection.driver_connection
            raw.set_progress_handler(tick, 100)  # type: ignore[union-attr]
            change(s)
            raw.set_progress_handler(None, 0)  # type: ignore[union-attr]
    finally:
        store.resolve.Local = real  # type: ignore[misc]
    return steps[0], read[0]


def doc_id(db: Database, i: int) -> int:
    with db.read() as s:
        return s.connection().exec_driver_sql("SELECT id FROM documents WHERE source = ?",
                                              (f"records/{i}.txt",)).scalar_one()


def costs(db: Database) -> dict[str, tuple[int, int]]:
    """What writing a new document, replacing one and deleting one costs, each mentioning the common names."""
    return {
        "write": cost(db, lambda s: write_document(s, record(10**6))),
        "replace": cost(db, lambda s: write_document(s, record(11, variant=1), replaces=doc_id(db, 11))),
        "delete": cost(db, lambda s: delete_document(s, doc_id(db, 12))),
    }


def test_a_document_with_common_names_costs_the_same_in_a_store_five_times_bigger(tmp_path: Path) -> None:
    small = build(tmp_path / "small.db", [record(i) for i in range(60)])
    big = build(tmp_path / "big.db", [record(i) for i in range(300)])
    try:
        a, b = costs(small), costs(big)
    finally:
        small.close()
        big.close()
    for change in a:
        (steps_a, read_a), (steps_b, read_b) = a[change], b[change]
        assert read_b == read_a <= 12, (change, read_a, read_b)  # a block's variety, not its size
        # every SQL statement is an index probe: the same steps, give or take a B-tree page
        assert steps_b <= steps_a * 1.1 + 20, (change, steps_a, steps_b)


TYPES = ["PERSON", "GPE", "LOC", "ORG", "WORK_OF_ART", "EVENT", "MISC"]
groups = st.lists(st.tuples(st.sampled_from(TYPES), st.sampled_from([None, "band", "film"]),
                            st.sampled_from(["Paris", "PARIS"]), st.integers(1, 4)), min_size=1, max_size=10)


@settings(max_examples=200, deadline=None)
@given(spec=groups)
def test_clustering_locals_read_grouped_equals_clustering_them_one_by_one(spec: list) -> None:  # type: ignore[type-arg]
    grouped = [Local(i, 0, name, t, d, False, None, n) for i, (t, d, name, n) in enumerate(spec)]
    single = [Local(i, 0, name, t, d, False, None) for i, (t, d, name, n) in enumerate(spec) for _ in range(n)]

    def summary(block: list[Local]) -> list[tuple]:  # type: ignore[type-arg]
        return [(c.key, c.name, c.type, c.size, sorted(m.id for m in c.members for _ in range(m.n)))
                for c in clusters(block)]

    assert summary(grouped) == summary(single)


def test_the_local_counts_follow_every_change_and_the_graph_equals_a_from_scratch_build(tmp_path: Path) -> None:
    """The triggers keep the counts equal to the rows they count, and resolving blocks from them after edits and
    deletes gives the graph a from-scratch build of the final documents has."""
    db = build(tmp_path / "a.db", [record(i) for i in range(40)])
    final = {i: record(i) for i in range(40)}
    try:
        for i in range(0, 40, 3):
            with db.write() as s:
                write_document(s, record(i, variant=2), replaces=doc_id(db, i))
            final[i] = record(i, variant=2)
        for i in range(1, 40, 4):
            with db.write() as s:
                delete_document(s, doc_id(db, i))
            del final[i]
        scratch = build(tmp_path / "b.db", [final[i] for i in sorted(final)])
        try:
            with db.engine.connect() as c1, scratch.engine.connect() as c2:
                assert differences(fingerprint(c1, vectors=False), fingerprint(c2, vectors=False)) == []
                assert counts_table(c1) == counts_of_rows(c1)
                assert counts_table(c2) == counts_of_rows(c2)
        finally:
            scratch.close()
    finally:
        db.close()


def counts_table(conn: Connection) -> list[tuple]:
    return sorted(tuple(r) for r in conn.execute(text("SELECT * FROM local_entity_counts")))


def counts_of_rows(conn: Connection) -> list[tuple]:
    return sorted(tuple(r) for r in conn.execute(text(
        "SELECT norm, type, coalesce(description, ''), name, coalesce(entity_id, 0), is_title, count(*) "
        "FROM local_entities GROUP BY 1, 2, 3, 4, 5, 6")))


def test_an_ingest_loads_the_name_list_once_whatever_it_replaces_or_fails_to_write(tmp_path: Path,
                                                                                   monkeypatch) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "docs"
    before, after = ["Quorvan Telisk", "Brenna Marlow", "Odile Ferrant", "Tomas Vireo"], ["Varnel Osk", "Ilse Darrow",
                                                                                           "Mirek Holm", "Petra Lund"]
    files = [write(folder, f"d{i}.md", f"# Note {i}\n\n{name} met Ada Lovelace in London.\n")
             for i, name in enumerate(before)]
    loads = []
    real_names = kg.pipeline.gazetteer_names

    def counted_names(conn):  # type: ignore[no-untyped-def]
        loads.append(1)
        return real_names(conn)

    monkeypatch.setattr(kg.pipeline, "gazetteer_names", counted_names)
    real_write = kg.pipeline.write_document

    def failing(session, rec, replaces=None):  # type: ignore[no-untyped-def]
        if rec.source.endswith("d2.md"):
            raise ValueError("disk says no")
        return real_write(session, rec, replaces)

    with KnowledgeGraph(tmp_path / "kg.db") as kg_:
        kg_.ingest([folder], index=False)
        for i, f in enumerate(files):  # every file changed: each replaces its old version, one fails to
            f.write_text(f"# Note {i}\n\n{after[i]} met Ada Lovelace in Paris.\n", encoding="utf-8")
        monkeypatch.setattr(kg.pipeline, "write_document", failing)
        loads.clear()
        report = kg_.ingest([folder], index=False)
        assert (report.documents, report.replaced, len(report.errors)) == (3, 3, 1)
        assert len(loads) == 1  # at the start only: not once per replaced document or failed write
        gazetteer = kg_.extractor.gazetteer
        assert gazetteer is not None
        with kg_.db.read() as s:
            names = set(gazetteer_names(s.connection()))
        assert gazetteer.names == {n for n in names if gazetteer.accepts(n)}  # what a reload would give
        assert {"Quorvan Telisk", "Brenna Marlow", "Tomas Vireo"}.isdisjoint(gazetteer.names)  # replaced
        assert "Odile Ferrant" in gazetteer.names and "Mirek Holm" not in gazetteer.names  # d2 failed to change
