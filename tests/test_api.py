"""kg.api.KnowledgeGraph: ingest reports, inspection, export and curation, end to end on real files."""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path

import pytest
from conftest import KB_SAMPLE, SAMPLE_DOCS, read_graph, rows, snapshot, write

from kg.api import KGError, KnowledgeGraph, NotFound
from kg.types import FileError, IngestReport


def _undirected(relations: list[tuple]) -> list[tuple]:
    """``related_to`` is stored with the smaller entity id first: compare its two ends by name instead."""
    return [(min(h, t), p, max(h, t), w) if p == "related_to" else (h, p, t, w) for h, p, t, w in relations]


def content(db: Path) -> dict[str, list[tuple]]:
    """The store by names instead of ids, so that two stores built in different ways can be compared."""
    ent = "e.name || '/' || e.type"
    return {
        "documents": sorted(rows(db, "SELECT d.source, d.title, d.content_hash, d.n_chars, e.name FROM documents d "
                                     "LEFT JOIN entities e ON e.id = d.about_entity_id")),
        "chunks": sorted(rows(db, "SELECT d.source, c.ord, c.text, c.start_char, c.end_char FROM chunks c "
                                  "JOIN documents d ON d.id = c.document_id")),
        "mentions": sorted(rows(db, f'SELECT d.source, c.ord, m.start, m."end", m.surface, m.label, m.source, {ent} '
                                    "FROM mentions m JOIN chunks c ON c.id = m.chunk_id "
                                    "JOIN documents d ON d.id = c.document_id JOIN entities e ON e.id = m.entity_id")),
        "entities": sorted(rows(db, "SELECT name, type, description, kb_id FROM entities "
                                    "WHERE merged_into_id IS NULL")),
        "aliases": sorted(rows(db, f"SELECT {ent}, a.alias, a.norm, a.source, d.source, c.ord FROM aliases a "
                                   "JOIN entities e ON e.id = a.entity_id LEFT JOIN chunks c ON c.id = a.chunk_id "
                                   "LEFT JOIN documents d ON d.id = c.document_id"), key=repr),
        "relations": sorted(_undirected(rows(db, "SELECT h.name || '/' || h.type, r.predicate, t.name || '/' || "
                                                 "t.type, r.weight FROM relations r JOIN entities h ON h.id = "
                                                 "r.head_id JOIN entities t ON t.id = r.tail_id"))),
        "evidence": sorted(rows(db, "SELECT d.source, c.ord, e.sent_start, e.sent_end, e.predicate, hm.start, tm.start "
                                    "FROM relation_evidence e JOIN chunks c ON c.id = e.chunk_id "
                                    "JOIN documents d ON d.id = c.document_id JOIN mentions hm "
                                    "ON hm.id = e.head_mention_id JOIN mentions tm ON tm.id = e.tail_mention_id")),
    }


# -- the sample corpus (shared, read-only) -------------------------------------------------------------------
def test_sample_ingest_report_matches_the_store(sample_kg: KnowledgeGraph, sample_report: IngestReport) -> None:
    r = sample_report
    assert (r.documents, r.replaced, r.skipped, r.errors) == (SAMPLE_DOCS, 0, 0, [])
    assert r.ok
    st = sample_kg.stats()
    assert st.documents == SAMPLE_DOCS
    assert (r.chunks, r.mentions, r.entities, r.relations) == (st.chunks, st.mentions, st.entities, st.relations)
    assert rows(sample_kg.path, "SELECT count(*), sum(weight) FROM relations") == [(st.relations, st.evidence)]
    assert st.merges == 0 and st.path == str(sample_kg.path)


def test_documents_list_titles_and_subjects(sample_kg: KnowledgeGraph) -> None:
    docs = {Path(d.source.split("#")[0]).name + ("#" + d.source.split("#")[1] if "#" in d.source else ""): d
            for d in sample_kg.documents()}
    assert len(docs) == SAMPLE_DOCS
    assert docs["marie_curie_charity.md"].title == "Marie Curie (charity)"
    assert docs["marie_curie_charity.md"].about == "Marie Curie"
    assert docs["university_of_manchester.pdf"].about == "University of Manchester"
    assert docs["prizes_and_conferences.jsonl#nobel_physics_1903"].title == "Nobel Prize in Physics 1903"
    assert all(d.about for d in docs.values())
    assert sum(d.chunks for d in docs.values()) == sample_kg.stats().chunks
    assert sum(d.mentions for d in docs.values()) == sample_kg.stats().mentions


def test_entities_are_ranked_by_mentions(sample_kg: KnowledgeGraph) -> None:
    people = sample_kg.entities(type="person", top=5)
    assert len(people) == 5 and all(e.type == "PERSON" for e in people)
    assert people[0].name == "Marie Curie"
    assert [e.mentions for e in people] == sorted((e.mentions for e in people), reverse=True)
    for e in people:
        counts = rows(sample_kg.path, "SELECT count(*), count(DISTINCT c.document_id) FROM mentions m "
                                      "JOIN chunks c ON c.id = m.chunk_id WHERE m.entity_id = ?", (e.id,))
        assert counts == [(e.mentions, e.documents)]


def test_entity_card(sample_kg: KnowledgeGraph) -> None:
    card = sample_kg.entity("Marie Curie")
    assert (card.name, card.type, card.kb_id) == ("Marie Curie", "PERSON", None)
    (n,) = rows(sample_kg.path, "SELECT count(*) FROM mentions WHERE entity_id = ?", (card.id,))[0]
    assert card.mention_count == n >= 30
    assert [(s.name, s.type) for s in card.same_name] == [("Marie Curie", "ORG")]  # the charity, also resolvable
    assert "Marie Curie" in {a.alias for a in card.aliases}
    assert 0 < len(card.mentions) <= 10
    for m in card.mentions:
        assert f"[{m.surface}]" in m.snippet
    assert card.relations and [r.weight for r in card.relations] == sorted((r.weight for r in card.relations),
                                                                            reverse=True)
    titles = {d["title"] for d in card.documents}
    assert "Marie Curie" in titles and len(card.documents) >= 10
    for r in card.relations:
        assert card.id in (r.head_id, r.tail_id) and r.head_id != r.tail_id
        assert 1 <= len(r.evidence) <= 2
        for ev in r.evidence:
            assert ev.sentence.strip() and ev.document in titles
    assert sample_kg.entity(f"id:{card.id}").id == card.id
    assert json.loads(json.dumps(card.to_dict()))["name"] == "Marie Curie"


def test_unknown_name_raises_not_found_with_suggestions(sample_kg: KnowledgeGraph) -> None:
    with pytest.raises(NotFound) as e:
        sample_kg.entity("Mari Curi")
    assert "Marie Curie" in e.value.suggestions
    assert "Did you mean" in str(e.value) and "'Mari Curi'" in str(e.value)
    with pytest.raises(NotFound) as e:
        sample_kg.entity("Qwxzvbn Plokm")
    assert e.value.suggestions == [] and "Did you mean" not in str(e.value)
    with pytest.raises(NotFound):
        sample_kg.neighbors("id:999999")


def test_neighbors_within_two_hops(sample_kg: KnowledgeGraph) -> None:
    hood = sample_kg.neighbors("Warsaw", hops=2)
    assert hood.entity.name == "Warsaw" and hood.hops == 2
    # Breadth-first search over the relation rows, in either direction, computed independently.
    adj: dict[int, set[int]] = {}
    for h, t in rows(sample_kg.path, "SELECT head_id, tail_id FROM relations WHERE head_id != tail_id"):
        adj.setdefault(h, set()).add(t)
        adj.setdefault(t, set()).add(h)
    dist, todo = {hood.entity.id: 0}, deque([hood.entity.id])
    while todo:
        n = todo.popleft()
        if dist[n] < 2:
            for m in adj.get(n, ()):
                if m not in dist:
                    dist[m] = dist[n] + 1
                    todo.append(m)
    assert {n.id: n.hops for n in hood.neighbors} == {n: d for n, d in dist.items() if d}
    assert {d for d in dist.values() if d} == {1, 2}
    assert [n.hops for n in hood.neighbors] == sorted(n.hops for n in hood.neighbors)
    assert all(n.via for n in hood.neighbors)
    one = sample_kg.neighbors("Warsaw", hops=1)
    assert {n.id for n in one.neighbors} == {n for n, d in dist.items() if d == 1}
    near = {n for n, d in dist.items() if d <= 1}
    (n_edges,) = rows(sample_kg.path, f"SELECT count(*) FROM relations WHERE head_id != tail_id AND head_id IN "
                                      f"({','.join(map(str, near))}) AND tail_id IN ({','.join(map(str, near))})")[0]
    assert len(one.edges) == n_edges > len(one.neighbors) - 1
    assert [e[3] for e in one.edges] == sorted((e[3] for e in one.edges), reverse=True)
    with pytest.raises(KGError, match="at least 1"):
        sample_kg.neighbors("Warsaw", hops=0)


@pytest.mark.parametrize("fmt", ["graphml", "gexf", "json"])
def test_export_reads_back_with_the_same_graph(sample_kg: KnowledgeGraph, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"graph.{fmt}"
    info = sample_kg.export(out, fmt.upper())
    g = sample_kg.graph()
    assert (info.format, info.nodes, info.edges) == (fmt, g.number_of_nodes(), g.number_of_edges())
    assert info.nodes > 100 and info.edges > 100
    back = read_graph(out, fmt)
    assert (back.number_of_nodes(), back.number_of_edges()) == (info.nodes, info.edges)
    names = sorted(str(d.get("name", d.get("label"))) for _, d in back.nodes(data=True))
    assert names == sorted(d["name"] for _, d in g.nodes(data=True))


def test_export_errors(sample_kg: KnowledgeGraph, tmp_path: Path) -> None:
    with pytest.raises(KGError, match="unknown export format 'dot'"):
        sample_kg.export(tmp_path / "g.dot", "dot")
    with pytest.raises(KGError, match="does not exist"):
        sample_kg.export(tmp_path / "missing" / "g.graphml")


# -- ingest on stores of their own ---------------------------------------------------------------------------
A1 = "Harbour Notes\n\nZorblat Quenty lived in Vexford with Marie Curie. Marie Curie was born in Warsaw.\n"
A2 = "Harbour Notes\n\nMarie Curie moved to Paris in 1891. Quinlan Darrow met Pierre Curie in Lyon.\n"
B = "Marie Curie was born in Warsaw. Pierre Curie worked in Paris with Henri Becquerel.\n"


def test_reingesting_unchanged_files_skips_them_and_changes_nothing(tmp_path: Path, make_kg) -> None:
    kg = make_kg()
    a, b = write(tmp_path, "docs/a.txt", A1), write(tmp_path, "docs/b.txt", B)
    first = kg.ingest([tmp_path / "docs"])
    assert (first.documents, first.skipped) == (2, 0)
    before = snapshot(kg.path)
    again = kg.ingest([tmp_path / "docs", b])  # b twice: once from the folder, once by name
    assert (again.documents, again.replaced, again.skipped, again.errors) == (0, 0, 3, [])
    assert (again.chunks, again.mentions, again.entities, again.relations) == (0, 0, 0, 0)
    assert sorted(again.skipped_sources) == sorted([str(a.resolve()), str(b.resolve()), str(b.resolve())])
    assert snapshot(kg.path) == before


def test_changed_file_replaces_its_old_contribution_exactly(tmp_path: Path, make_kg) -> None:
    kg = make_kg("replaced.db")
    a, b = write(tmp_path, "docs/a.txt", A1), write(tmp_path, "docs/b.txt", B)
    kg.ingest([a, b])
    assert {"Zorblat Quenty", "Vexford"} <= {n for (n,) in rows(kg.path, "SELECT name FROM entities")}
    a.write_text(A2, encoding="utf-8")
    report = kg.ingest([a, b])
    assert (report.documents, report.replaced, report.skipped, report.errors) == (1, 1, 1, [])
    names = {n for (n,) in rows(kg.path, "SELECT name FROM entities")}
    assert {"Zorblat Quenty", "Vexford"}.isdisjoint(names) and {"Quinlan Darrow", "Lyon"} <= names
    (w,) = rows(kg.path, "SELECT r.weight FROM relations r JOIN entities h ON h.id = r.head_id JOIN entities t "
                         "ON t.id = r.tail_id WHERE h.name = 'Marie Curie' AND t.name = 'Warsaw'")[0]
    assert w == 1.0  # only b's evidence is left
    # The store is what a fresh ingest of the current files gives.
    fresh = make_kg("fresh.db")
    fresh.ingest([a, b])
    assert content(kg.path) == content(fresh.path)
    assert kg.stats().to_dict() | {"path": ""} == fresh.stats().to_dict() | {"path": ""}


def test_bad_files_are_reported_and_good_ones_stored(tmp_path: Path, make_kg) -> None:
    from pypdf import PdfWriter

    d = tmp_path / "in"
    good = [write(d, "good.txt", "Good Title\n\nMarie Curie was born in Warsaw.\n"),
            write(d, "good.md", "# Bohr\n\nNiels Bohr worked in Copenhagen.\n")]
    mixed = write(d, "mixed.jsonl", '{"id": "ok", "text": "Otto Hahn worked in Berlin."}\n{"id": "bad", "text": \n')
    nul = write(d, "nul.txt", b"Marie Curie\x00\x01\x02")
    latin = write(d, "latin.txt", "Ernest Rutherford in Montréal.".encode("latin-1"))
    empty = write(d, "empty.md", "\n\n")
    pdf = d / "scan.pdf"
    w = PdfWriter()
    w.add_blank_page(width=100, height=100)
    with pdf.open("wb") as fh:
        w.write(fh)
    docx = write(d, "letter.docx", "not supported")
    missing = d / "missing.txt"
    totals: list[int] = []
    kg = make_kg()
    report = kg.ingest([*good, mixed, nul, latin, empty, pdf, docx, missing], on_total=totals.append)

    assert totals == [8]  # documents the supported, existing files hold: 5 files and 2 jsonl lines
    assert report.documents == 3 and not report.ok
    errors = {e.where: e.reason for e in report.errors}
    assert errors == {
        str(docx): errors[str(docx)], str(missing): "no such file or directory", f"{mixed}:2": errors[f"{mixed}:2"],
        str(nul): "binary file (contains NUL bytes), not text", str(latin): errors[str(latin)],
        str(empty): "empty document (no text after parsing)", str(pdf): errors[str(pdf)],
    }
    assert errors[str(docx)].startswith("unsupported file type '.docx'")
    assert errors[f"{mixed}:2"].startswith("malformed JSON")
    assert errors[str(latin)] == "not valid UTF-8 (byte 0xe9 at offset 26)"
    assert "no extractable text" in errors[str(pdf)]
    assert all(isinstance(e, FileError) and str(e) == f"{e.where}: {e.reason}" for e in report.errors)
    # Good documents are stored whole; bad ones leave no row at all.
    assert sorted(s for (s,) in rows(kg.path, "SELECT source FROM documents")) == sorted(
        [str(good[0].resolve()), str(good[1].resolve()), f"{mixed.resolve()}#ok"])
    assert rows(kg.path, "SELECT count(*) FROM chunks c JOIN documents d ON d.id = c.document_id") == \
        rows(kg.path, "SELECT count(*) FROM chunks")
    surfaces = {s for (s,) in rows(kg.path, "SELECT surface FROM mentions")}
    assert {"Marie Curie", "Niels Bohr", "Otto Hahn"} <= surfaces and "Ernest Rutherford" not in surfaces


def test_knowledge_graph_path_must_be_a_file(tmp_path: Path) -> None:
    with pytest.raises(KGError, match="is a directory"):
        KnowledgeGraph(tmp_path)


# -- curation ------------------------------------------------------------------------------------------------
def test_merge_and_unmerge_through_the_api(tmp_path: Path, make_kg) -> None:
    kg = make_kg()
    person = write(tmp_path, "marie.txt", "Marie Curie\n\nMarie Curie was born in Warsaw. Marie Curie worked with "
                                          "Pierre Curie in Paris. Pierre Curie taught at ESPCI.\n")
    charity = write(tmp_path, "charity.md", "# Marie Curie (charity)\n\nMarie Curie is a charity in the United "
                                            "Kingdom. It runs hospices in London.\n")
    assert kg.ingest([person, charity]).errors == []
    ids = kg.resolve("Marie Curie")
    assert len(ids) == 2
    with pytest.raises(KGError, match=r"'Marie Curie' names several entities: id:\d+ \((PERSON|ORG)\)"):
        kg.merge("Marie Curie", "Pierre Curie")
    marie = kg.entity("Marie Curie").id
    before = content(kg.path)
    stats = kg.stats()
    pierre = kg.entity("Pierre Curie")
    (n_aliases,) = rows(kg.path, "SELECT count(*) FROM aliases WHERE entity_id = ?", (pierre.id,))[0]

    info = kg.merge(f"id:{marie}", "Pierre Curie")
    assert (info.action, info.kept.id, info.merged.id) == ("merge", marie, pierre.id)
    assert (info.mentions_moved, info.aliases_moved) == (pierre.mention_count, n_aliases) and n_aliases > 0
    assert info.merged.mentions == 0 and info.kept.mentions == kg.entity(f"id:{marie}").mention_count
    assert kg.resolve("Pierre Curie") == [marie]  # its aliases now name the kept entity
    assert kg.resolve(f"id:{pierre.id}") == [marie]  # a tombstone resolves to where it went
    after = kg.stats()
    assert (after.entities, after.merges, after.mentions) == (stats.entities - 1, 1, stats.mentions)
    assert pierre.id not in kg.graph()

    undo = kg.unmerge("Pierre Curie")
    assert (undo.action, undo.kept.id, undo.merged.id, undo.mentions_moved) == \
        ("unmerge", marie, pierre.id, info.mentions_moved)
    assert content(kg.path) == before
    assert kg.stats().to_dict() == stats.to_dict()
    assert rows(kg.path, "SELECT action, undone FROM merge_log ORDER BY id") == [("merge", 1), ("unmerge", 0)]
    with pytest.raises(KGError, match="no merge to undo"):
        kg.unmerge(f"id:{pierre.id}")
    with pytest.raises(KGError, match="with itself"):
        kg.merge(f"id:{marie}", f"id:{marie}")
    with pytest.raises(NotFound):
        kg.merge(f"id:{marie}", "Nobody Atall")


def test_import_kb_reports_bad_lines_and_updates_on_reimport(tmp_path: Path, make_kg) -> None:
    kg = make_kg()
    kb = write(tmp_path, "kb.jsonl", "\n".join([
        '{"id": "Q1", "name": "Ada Lovelace", "aliases": ["Augusta Ada King", "", 3], "type": "person"}',
        "{not json",
        '{"id": "Q2"}',
        '["a list"]',
        "",
        '{"id": 3, "name": "London", "description": "capital of England", "type": "GPE"}',
    ]))
    report = kg.import_kb(kb)
    assert (report.created, report.updated) == (2, 0)
    assert [(e.where, e.reason.split(":")[0]) for e in report.errors] == [
        (f"{kb}:2", "skipped"), (f"{kb}:3", "skipped"), (f"{kb}:4", "skipped")]
    assert 'needs a string "name"' in report.errors[1].reason and "not an object" in report.errors[2].reason
    assert sorted(rows(kg.path, "SELECT kb_id, name, type, description FROM entities")) == [
        ("3", "London", "GPE", "capital of England"), ("Q1", "Ada Lovelace", "PERSON", None)]
    assert sorted(a for (a,) in rows(kg.path, "SELECT alias FROM aliases")) == ["Ada Lovelace", "Augusta Ada King",
                                                                                 "London"]
    assert kg.resolve("Augusta Ada King") == kg.resolve("Ada Lovelace") != []

    again = kg.import_kb(KB_SAMPLE)
    assert (again.created, again.updated, again.errors) == (11, 0, [])
    again = kg.import_kb(KB_SAMPLE)
    assert (again.created, again.updated) == (0, 11)
    assert kg.stats().entities == 13
    kb_lines = [json.loads(line) for line in KB_SAMPLE.read_text(encoding="utf-8").splitlines()]
    assert rows(kg.path, "SELECT count(*) FROM aliases WHERE source = 'kb'")[0][0] == 3 + sum(
        len(dict.fromkeys([o["name"], *o["aliases"]])) for o in kb_lines)

    bad = write(tmp_path, "bad.jsonl", "nope\n[1]\n")
    with pytest.raises(KGError, match="no valid entity lines"):
        kg.import_kb(bad)
    with pytest.raises(KGError, match="cannot read knowledge base"):
        kg.import_kb(tmp_path / "absent.jsonl")


def test_import_kb_same_id_twice_in_one_file_is_reported_and_the_first_kept(tmp_path: Path, make_kg) -> None:
    kg = make_kg()
    kb = write(tmp_path, "kb.jsonl", '{"id": "Q1", "name": "Alpha Beta"}\n{"id": "Q1", "name": "Alpha Gamma"}\n'
                                     '{"id": "Q9", "name": "!!!"}\n')
    report = kg.import_kb(kb)
    assert (report.created, report.updated) == (2, 0)
    assert [(e.where, e.reason) for e in report.errors] == [
        (f"{kb}:2", "skipped: repeated id 'Q1' (first on line 1)")]
    assert sorted(rows(kg.path, "SELECT kb_id, name FROM entities")) == [("Q1", "Alpha Beta"), ("Q9", "!!!")]
    assert rows(kg.path, "SELECT alias FROM aliases") == [("Alpha Beta",)]


def test_import_kb_rejects_unknown_types(tmp_path: Path, make_kg) -> None:
    kg = make_kg()
    kb = write(tmp_path, "kb.jsonl", '{"id": "Q1", "name": "Alpha Beta", "type": "person"}\n'
                                     '{"id": "Q2", "name": "Gamma", "type": "PLANET"}\n')
    report = kg.import_kb(kb)
    assert report.created == 1 and len(report.errors) == 1
    assert report.errors[0].where == f"{kb}:2" and "unknown type 'PLANET'" in report.errors[0].reason
    assert rows(kg.path, "SELECT kb_id, type FROM entities") == [("Q1", "PERSON")]


def test_import_kb_string_aliases_are_not_split_into_characters(tmp_path: Path, make_kg) -> None:
    kg = make_kg()
    kb = write(tmp_path, "kb.jsonl", '{"id": "Q1", "name": "Ada Lovelace", "aliases": "Countess Lovelace"}\n')
    kg.import_kb(kb)
    aliases = {a for (a,) in rows(kg.path, "SELECT alias FROM aliases")}
    assert aliases <= {"Ada Lovelace", "Countess Lovelace"}


def test_a_failed_write_stores_nothing_and_later_documents_keep_its_entities(tmp_path: Path, make_kg,
                                                                               monkeypatch) -> None:
    # Fault injection: the store refuses the first document. Its new entity ("Zorblax Industries") was already
    # offered to linking, and the second document, extracted meanwhile, links to it: the entity must be created
    # with the second document, and nothing of the first may be stored.
    from sqlalchemy.exc import OperationalError

    import kg.pipeline as pipeline

    real = pipeline.write_document

    def refuse_first(session, rec, earlier=None):  # type: ignore[no-untyped-def]
        if rec.source.endswith("#a"):
            raise OperationalError("INSERT", {}, Exception("disk I/O error"))
        return real(session, rec, earlier)

    monkeypatch.setattr(pipeline, "write_document", refuse_first)
    corpus = write(tmp_path, "c.jsonl", "".join(json.dumps(r) + "\n" for r in [
        {"id": "a", "title": "Zorblax Industries", "text": "Zorblax Industries was founded in Leeds in 1901."},
        {"id": "b", "title": "Leeds notes", "text": "Zorblax Industries moved to Sheffield in 1950."},
        {"id": "c", "title": "York notes", "text": "York Minster stands in York."},
    ]))
    kg = make_kg()
    report = kg.ingest([corpus])
    assert [e.where.rsplit("#", 1)[-1] for e in report.errors] == ["a"]
    assert "disk I/O error" in report.errors[0].reason and report.documents == 2
    assert [d.source.rsplit("#", 1)[-1] for d in kg.documents()] == ["b", "c"]
    zorblax = rows(kg.path, "SELECT e.id FROM entities e WHERE e.name = 'Zorblax Industries'")
    assert len(zorblax) == 1
    in_b = rows(kg.path, "SELECT DISTINCT m.entity_id FROM mentions m JOIN chunks c ON c.id = m.chunk_id "
                         "JOIN documents d ON d.id = c.document_id WHERE m.surface = 'Zorblax Industries'")
    assert in_b == zorblax
    assert rows(kg.path, "SELECT count(*) FROM documents WHERE source LIKE '%#a'") == [(0,)]
    # The catalog is reloaded after the failure: a new ingest of the first document links to the same entity.
    monkeypatch.setattr(pipeline, "write_document", real)
    again = kg.ingest([corpus])
    assert (again.documents, again.skipped, again.errors) == (1, 2, [])
    assert rows(kg.path, "SELECT count(*) FROM entities WHERE name = 'Zorblax Industries'") == [(1,)]
