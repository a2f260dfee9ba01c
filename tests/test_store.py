"""store: the SQLite engine, one-transaction writes and deletes, merges, and the networkx views."""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path

import pytest
from conftest import rows, snapshot, write
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from kg.api import KnowledgeGraph
from store.db import BUSY_TIMEOUT_MS, Database
from store.graph import entity_chunk_graph, entity_graph
from store.merge import MergeError, merge, unmerge
from store.records import (
    AliasRecord,
    ChunkRecord,
    DocumentRecord,
    EvidenceRecord,
    MentionRecord,
    NewEntity,
)
from store.relations import relation_key
from store.schema import Entity
from store.writer import delete_document, write_document

DOC_A = "Marie Curie was born in Warsaw. Marie Curie later worked in Paris with Pierre Curie.\n"
DOC_B = "Vexford Gazette\n\nZorblat Quenty met Marie Curie in Paris. Marie Curie was born in Warsaw.\n"
DOC_C = "Pierre Curie taught at the Sorbonne in Paris.\n"


def doc_id(kg: KnowledgeGraph, path: Path) -> int:
    (i,) = rows(kg.path, "SELECT id FROM documents WHERE source = ?", (str(path.resolve()),))[0]
    return i


def rows_of_document(db: Path, did: int) -> dict[str, set[tuple]]:
    """Everything that hangs off one document's chunks."""
    chunks = "(SELECT id FROM chunks WHERE document_id = ?)"
    return {
        "chunks": set(rows(db, "SELECT id FROM chunks WHERE document_id = ?", (did,))),
        "mentions": set(rows(db, f"SELECT id FROM mentions WHERE chunk_id IN {chunks}", (did,))),
        "aliases": set(rows(db, f"SELECT id FROM aliases WHERE chunk_id IN {chunks}", (did,))),
        "relation_evidence": set(rows(db, f"SELECT id FROM relation_evidence WHERE chunk_id IN {chunks}", (did,))),
    }


# -- the engine ----------------------------------------------------------------------------------------------
def test_connections_use_wal_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    db = Database(tmp_path / "kg.db")
    try:
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == BUSY_TIMEOUT_MS == 30_000
        # WAL is a property of the file: a connection that knows nothing of ours sees it too.
        assert rows(tmp_path / "kg.db", "PRAGMA journal_mode") == [("wal",)]
        # Foreign keys are enforced: a chunk of a document that does not exist is refused.
        with pytest.raises(IntegrityError), db.write() as s:
            s.execute(text("INSERT INTO chunks (document_id, ord, text, start_char, end_char) "
                           "VALUES (999, 0, 'x', 0, 1)"))
    finally:
        db.close()


def test_write_transaction_takes_the_write_lock_up_front_and_readers_do_not(tmp_path: Path) -> None:
    db = Database(tmp_path / "kg.db")
    other = sqlite3.connect(str(tmp_path / "kg.db"), timeout=0, isolation_level=None)
    try:
        with db.read() as s:
            s.execute(select(Entity.id)).all()
            other.execute("BEGIN IMMEDIATE")  # a reader does not stop a writer (WAL)
            other.execute("ROLLBACK")
        with db.write() as s:
            s.execute(select(Entity.id)).all()  # only a read so far, yet the write lock is held
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # released on commit
        other.execute("ROLLBACK")
    finally:
        other.close()
        db.close()


# -- write and delete ----------------------------------------------------------------------------------------
def test_write_then_delete_document_leaves_the_store_exactly_as_before(tmp_path: Path, make_kg) -> None:
    kg = make_kg()
    a, b, c = (write(tmp_path, n, t) for n, t in (("a.txt", DOC_A), ("b.txt", DOC_B), ("c.txt", DOC_C)))
    assert kg.ingest([a, c]).documents == 2
    before = snapshot(kg.path)
    weight = dict(((h, p, t), w) for h, p, t, w in rows(
        kg.path, "SELECT h.name, r.predicate, t.name, r.weight FROM relations r "
                 "JOIN entities h ON h.id = r.head_id JOIN entities t ON t.id = r.tail_id"))
    assert weight[("Marie Curie", "born_in", "Warsaw")] == 1.0

    report = kg.ingest([b])
    assert report.documents == 1 and report.entities >= 2  # Zorblat Quenty and the "Vexford Gazette" subject
    bid = doc_id(kg, b)
    added = rows_of_document(kg.path, bid)
    assert all(added.values()), added
    (w,) = rows(kg.path, "SELECT r.weight FROM relations r JOIN entities h ON h.id = r.head_id "
                         "JOIN entities t ON t.id = r.tail_id WHERE h.name = 'Marie Curie' AND t.name = 'Warsaw' "
                         "AND r.predicate = 'born_in'")[0]
    assert w == 2.0  # B's evidence added weight to A's relation
    assert rows(kg.path, "SELECT count(*) FROM entities WHERE name IN ('Zorblat Quenty', 'Vexford Gazette')") == [(2,)]

    with kg.db.write() as s:
        delete_document(s, bid)
    assert snapshot(kg.path) == before


def test_delete_document_removes_only_its_rows_and_prunes_orphans(tmp_path: Path, make_kg) -> None:
    kg = make_kg()
    a, b, c = (write(tmp_path, n, t) for n, t in (("a.txt", DOC_A), ("b.txt", DOC_B), ("c.txt", DOC_C)))
    assert kg.ingest([a, b, c]).documents == 3
    db = kg.path
    bid = doc_id(kg, b)
    before = snapshot(db)
    gone = rows_of_document(db, bid)
    chunk_ids = {i for (i,) in gone["chunks"]}

    with kg.db.write() as s:
        delete_document(s, bid)
    after = snapshot(db)

    # Rows that hang off B's chunks are gone; every other such row is untouched, column for column.
    for table, key in (("chunks", 0), ("mentions", 1), ("relation_evidence", 2)):
        expected = [r for r in before[table] if r[key] not in chunk_ids and not (table == "chunks" and r[1] == bid)]
        assert after[table] == expected, table
    assert after["aliases"] == [r for r in before["aliases"] if r[5] not in chunk_ids]
    assert [r for r in after["documents"]] == [r for r in before["documents"] if r[0] != bid]

    # Entities: those still mentioned or the subject of a document stay, unchanged; the rest are pruned.
    used = {e for (e,) in rows(db, "SELECT entity_id FROM mentions UNION SELECT about_entity_id FROM documents "
                                   "WHERE about_entity_id IS NOT NULL")}
    assert after["entities"] == [r for r in before["entities"] if r[0] in used]
    names = {r[1] for r in after["entities"]}
    assert {"Zorblat Quenty", "Vexford Gazette"}.isdisjoint(names)
    assert {"Marie Curie", "Warsaw", "Paris", "Pierre Curie"} <= names

    # Relations: only those with evidence left, each weighing as much as its evidence.
    evidence = Counter(r[1] for r in after["relation_evidence"])
    assert {r[0] for r in after["relations"]} == set(evidence)
    assert all(r[4] == evidence[r[0]] for r in after["relations"])
    assert ("Marie Curie", "born_in", "Warsaw", 1.0) in set(rows(
        db, "SELECT h.name, r.predicate, t.name, r.weight FROM relations r "
            "JOIN entities h ON h.id = r.head_id JOIN entities t ON t.id = r.tail_id"))


def _record(source: str, entity_ref: int = -1, **kw) -> DocumentRecord:  # type: ignore[no-untyped-def]
    text = "Ada Lovelace met Charles Babbage in London."
    rec = DocumentRecord(
        source=source, title="Ada", content_hash="h" * 64, n_chars=len(text), meta={"k": 1},
        chunks=[ChunkRecord(0, text, 0, len(text))],
        new_entities=[NewEntity(-1, "Ada Lovelace", "PERSON", norm="ada lovelace", is_title=True),
                      NewEntity(-2, "Charles Babbage", "PERSON", norm="charles babbage"),
                      NewEntity(-3, "London", "GPE", norm="london")],
        mentions=[MentionRecord(0, 0, 12, "Ada Lovelace", "PERSON", "ner", 1.0, 0, len(text), entity_ref),
                  MentionRecord(0, 17, 32, "Charles Babbage", "PERSON", "ner", 1.0, 0, len(text), -2),
                  MentionRecord(0, 36, 42, "London", "GPE", "ner", 1.0, 0, len(text), -3)],
        aliases=[AliasRecord(-1, "Ada Lovelace", "ada lovelace", "mention", 0),
                 AliasRecord(-1, "Ada", "ada", "title", 0)],
        evidence=[EvidenceRecord(0, 1, "met", 0, 0, len(text)), EvidenceRecord(2, 1, "related_to", 0, 0, len(text))],
        about_entity=-1,
    )
    for k, v in kw.items():
        setattr(rec, k, v)
    return rec


def test_write_document_stores_records_and_relation_keys(tmp_path: Path) -> None:
    db = Database(tmp_path / "kg.db")
    try:
        with db.write() as s:
            result = write_document(s, _record("doc-1"))
        assert result.n_chunks == 1 and result.n_mentions == 3 and result.n_relations_new == 2
        assert result.n_entities_new == 3
        p = tmp_path / "kg.db"
        by_name = dict(rows(p, "SELECT name, id FROM entities"))
        ids = {-1: by_name["Ada Lovelace"], -2: by_name["Charles Babbage"], -3: by_name["London"]}
        # Each document-local entity is stored with its block (normalised name) and resolves to one entity.
        assert sorted(rows(p, "SELECT name, norm, is_title, entity_id FROM local_entities")) == sorted([
            ("Ada Lovelace", "ada lovelace", 1, ids[-1]), ("Charles Babbage", "charles babbage", 0, ids[-2]),
            ("London", "london", 0, ids[-3])])
        assert rows(p, "SELECT about_entity_id, metadata FROM documents") == [(ids[-1], '{"k": 1}')]
        assert sorted(rows(p, "SELECT entity_id, surface FROM mentions")) == sorted(
            [(ids[-1], "Ada Lovelace"), (ids[-2], "Charles Babbage"), (ids[-3], "London")])
        # related_to is undirected and stored once with the smaller id first; "met" keeps its direction.
        assert sorted(rows(p, "SELECT head_id, tail_id, predicate, weight FROM relations")) == sorted([
            (ids[-1], ids[-2], "met", 1.0), (min(ids[-2], ids[-3]), max(ids[-2], ids[-3]), "related_to", 1.0)])
        assert relation_key(5, 3, "related_to") == (3, 5, "related_to")
        assert relation_key(5, 3, "born_in") == (5, 3, "born_in")
    finally:
        db.close()


@pytest.mark.parametrize("broken", [
    {"entity_ref": 987654},  # a mention of an entity that does not exist: foreign key error
    {"evidence": [EvidenceRecord(0, 7, "met", 0, 0, 10)]},  # evidence pointing at a mention that is not there
    {"aliases": [AliasRecord(-9, "Nobody", "nobody", "mention", 0)]},  # alias of an unknown new entity
])
def test_a_failure_inside_write_document_leaves_nothing_written(tmp_path: Path, broken: dict) -> None:
    db = Database(tmp_path / "kg.db")
    try:
        with db.write() as s:
            write_document(s, _record("good"))
        before = snapshot(tmp_path / "kg.db")
        with pytest.raises((IntegrityError, IndexError, KeyError)), db.write() as s:
            write_document(s, _record("bad", **broken))
        assert snapshot(tmp_path / "kg.db") == before
        assert rows(tmp_path / "kg.db", "SELECT source FROM documents") == [("good",)]
    finally:
        db.close()


# -- merge and unmerge ---------------------------------------------------------------------------------------
def _merge_state(db: Path) -> dict[str, list[tuple]]:
    """What a merge changes, by stable keys: relation ids may change, their content may not."""
    return {
        "mentions": sorted(rows(db, "SELECT id, entity_id FROM mentions")),
        "aliases": sorted(rows(db, "SELECT id, entity_id, alias, source FROM aliases")),
        "about": sorted(rows(db, "SELECT id, about_entity_id FROM documents")),
        "entities": sorted(rows(db, "SELECT id, name, type, merged_into_id FROM entities")),
        "relations": sorted(rows(db, "SELECT head_id, tail_id, predicate, weight FROM relations")),
        "evidence": sorted(rows(db, "SELECT e.id, r.head_id, r.tail_id, r.predicate FROM relation_evidence e "
                                    "JOIN relations r ON r.id = e.relation_id")),
    }


def test_merge_then_unmerge_restores_everything_and_is_logged(tmp_path: Path, make_kg) -> None:
    kg = make_kg()
    a, b, c = (write(tmp_path, n, t) for n, t in (("a.txt", DOC_A), ("b.txt", DOC_B), ("c.txt", DOC_C)))
    kg.ingest([a, b, c])
    db = kg.path
    (marie,), (pierre,) = (rows(db, "SELECT id FROM entities WHERE name = ?", (n,))[0:1] for n in
                           ("Marie Curie", "Pierre Curie"))
    marie, pierre = marie[0], pierre[0]
    before = _merge_state(db)
    pierre_mentions = {i for i, e in before["mentions"] if e == pierre}
    pierre_aliases = {r[0] for r in before["aliases"] if r[1] == pierre}
    assert pierre_mentions and pierre_aliases

    with kg.db.write() as s:
        log = merge(s, s.get(Entity, marie), s.get(Entity, pierre))
        assert set(log.moved["mentions"]) == pierre_mentions and set(log.moved["aliases"]) == pierre_aliases
    merged = _merge_state(db)
    assert {i for i, e in merged["mentions"] if e == marie} == \
        {i for i, e in before["mentions"] if e in (marie, pierre)}
    assert not [m for m in merged["mentions"] if m[1] == pierre]
    assert (pierre, "Pierre Curie", "PERSON", marie) in merged["entities"]  # a tombstone, not deleted
    # Evidence between the two now supports a self-relation; every relation weighs what its evidence does.
    assert all(h != pierre and t != pierre for _, h, t, _ in merged["evidence"])
    assert (marie, marie, "related_to", 1.0) in merged["relations"]  # "worked with": no schema predicate
    ev_count = Counter((h, t, p) for _, h, t, p in merged["evidence"])
    assert {(h, t, p): w for h, t, p, w in merged["relations"]} == ev_count
    with kg.db.read() as s:
        g = entity_graph(s)
    assert pierre not in g and not g.has_edge(marie, marie)

    with kg.db.write() as s:
        undo = unmerge(s, s.get(Entity, pierre))
        assert (undo.action, undo.kept_id, undo.merged_id) == ("unmerge", marie, pierre)
    assert _merge_state(db) == before
    assert rows(db, "SELECT action, kept_id, merged_id, kept_name, merged_name, undone FROM merge_log ORDER BY id") \
        == [("merge", marie, pierre, "Marie Curie", "Pierre Curie", 1),
            ("unmerge", marie, pierre, "Marie Curie", "Pierre Curie", 0)]


def test_merge_refuses_what_it_cannot_do(tmp_path: Path, make_kg) -> None:
    kg = make_kg()
    kg.ingest([write(tmp_path, "a.txt", DOC_A)])
    (m,), (w,), (p,) = (rows(kg.path, "SELECT id FROM entities WHERE name = ?", (n,))[0] for n in
                        ("Marie Curie", "Warsaw", "Paris"))
    with kg.db.write() as s:
        with pytest.raises(MergeError, match="with itself"):
            merge(s, s.get(Entity, m), s.get(Entity, m))
        with pytest.raises(MergeError, match="no merge to undo"):
            unmerge(s, s.get(Entity, w))
        merge(s, s.get(Entity, p), s.get(Entity, w))
    with kg.db.write() as s, pytest.raises(MergeError, match="already merged"):
        merge(s, s.get(Entity, m), s.get(Entity, w))


# -- networkx views ------------------------------------------------------------------------------------------
def test_entity_graph_has_live_entities_and_relations(sample_kg: KnowledgeGraph) -> None:
    db = sample_kg.path
    with sample_kg.db.read() as s:
        g = entity_graph(s)
    ents = rows(db, "SELECT e.id, e.name, e.type, (SELECT count(*) FROM mentions m WHERE m.entity_id = e.id) "
                    "FROM entities e WHERE merged_into_id IS NULL")
    assert set(g.nodes) == {e[0] for e in ents}
    for i, name, typ, n in ents:
        assert (g.nodes[i]["name"], g.nodes[i]["type"], g.nodes[i]["mentions"]) == (name, typ, n)
    rels = rows(db, "SELECT head_id, tail_id, predicate, weight FROM relations WHERE head_id != tail_id")
    assert g.number_of_edges() == len(rels) > 0
    for h, t, p, w in rels:
        assert g.edges[h, t, p] == {"predicate": p, "weight": w}
    marie = next(i for i, name, typ, _ in ents if name == "Marie Curie" and typ == "PERSON")
    warsaw = next(i for i, name, _, _ in ents if name == "Warsaw")
    assert g.has_edge(marie, warsaw) or g.has_edge(warsaw, marie)


def test_entity_chunk_graph_links_entities_to_the_chunks_that_mention_them(sample_kg: KnowledgeGraph) -> None:
    with sample_kg.db.read() as s:
        g = entity_chunk_graph(s)
    pairs = rows(sample_kg.path, "SELECT entity_id, chunk_id, count(*) FROM mentions GROUP BY entity_id, chunk_id")
    assert g.number_of_edges() == len(pairs)
    for e, c, n in pairs:
        assert g.edges[("e", e), ("c", c)]["weight"] == float(n)
    chunk_doc = dict(rows(sample_kg.path, "SELECT id, document_id FROM chunks"))
    chunk_nodes = [n for n in g if n[0] == "c"]
    assert chunk_nodes and all(g.nodes[n]["document"] == chunk_doc[n[1]] for n in chunk_nodes)
    assert {n for n in g if n[0] == "e"} == {("e", e) for e, _, _ in pairs}
