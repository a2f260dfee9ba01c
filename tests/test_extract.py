"""extract: NER, gazetteer, linking and relations, run for real through KnowledgeGraph.ingest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import rows, write

from extract.pipeline import ExtractConfig
from kg.api import KGConfig, KnowledgeGraph
from kg.chunking import ChunkConfig

FILM = ('{"id": "bos", "title": "Blue Orchard Summer", "text": "Blue Orchard Summer is a 1950 British drama film '
        'directed by Harold Penrose and shot in Kent."}\n')
NOTES = "Cinema notes\n\nReaders loved Blue Orchard Summer. The critic Jane Holloway reviewed it in Leeds.\n"
SCHNEIDER = ("Willi Schneider\n\nWilli Schneider was born in Berlin in 1903. In 1930 Schneider moved to Munich, "
             "where he worked as an engineer.\n")
NASA = ("Space agencies\n\nThe National Aeronautics and Space Administration was founded in Washington in 1958. "
        "Engineers at NASA later built the Saturn V rocket.\n")
BORN = "Marie Curie was born in Warsaw. Pierre Curie worked in Paris with Henri Becquerel.\n"
RACER = ('{"id": "ws", "title": "Willi Schneider (skeleton racer)", "text": "Willi Schneider is a German skeleton '
         'racer who competed in the early 2000s."}\n')


def mentions(kg: KnowledgeGraph, source: Path) -> list[tuple]:
    """(surface, label, source, entity id, entity name, confidence) of one document, in text order."""
    return rows(kg.path, "SELECT m.surface, m.label, m.source, e.id, e.name, m.confidence FROM mentions m "
                         "JOIN chunks c ON c.id = m.chunk_id JOIN documents d ON d.id = c.document_id "
                         "JOIN entities e ON e.id = m.entity_id WHERE d.source LIKE ? ORDER BY c.ord, m.start",
                (f"{source.resolve()}%",))


def about(kg: KnowledgeGraph, source: Path) -> tuple | None:
    r = rows(kg.path, "SELECT e.id, e.name, e.type, e.description FROM documents d JOIN entities e "
                      "ON e.id = d.about_entity_id WHERE d.source LIKE ?", (f"{source.resolve()}%",))
    return r[0] if r else None


def relations(kg: KnowledgeGraph) -> set[tuple[str, str, str]]:
    return set(rows(kg.path, "SELECT h.name, r.predicate, t.name FROM relations r "
                             "JOIN entities h ON h.id = r.head_id JOIN entities t ON t.id = r.tail_id"))


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("docs")
    return {name: write(d, name, text) for name, text in [
        ("film.jsonl", FILM), ("notes.txt", NOTES), ("schneider.txt", SCHNEIDER), ("nasa.txt", NASA),
        ("born.txt", BORN), ("racer.jsonl", RACER)]}


@pytest.fixture(scope="module")
def kg(tmp_path_factory: pytest.TempPathFactory, docs: dict[str, Path]) -> KnowledgeGraph:
    """The parser on; documents ingested one call each, in this order. Read-only for the tests."""
    g = KnowledgeGraph(tmp_path_factory.mktemp("extract") / "kg.db", KGConfig())
    for name in ("film.jsonl", "notes.txt", "schneider.txt", "nasa.txt", "born.txt"):
        report = g.ingest([docs[name]])
        assert report.documents == 1 and report.errors == [], report
    yield g
    g.close()


@pytest.fixture(scope="module")
def kg_noparse(tmp_path_factory: pytest.TempPathFactory, docs: dict[str, Path]) -> KnowledgeGraph:
    g = KnowledgeGraph(tmp_path_factory.mktemp("noparse") / "kg.db", KGConfig(extract=ExtractConfig(parser=False)))
    report = g.ingest([docs["born.txt"], docs["racer.jsonl"]])
    assert report.documents == 2 and report.errors == [], report
    yield g
    g.close()


def test_ner_mentions_are_stored(kg: KnowledgeGraph, docs: dict[str, Path]) -> None:
    got = {(s, label, src) for s, label, src, *_ in mentions(kg, docs["born.txt"])}
    assert got == {("Marie Curie", "PERSON", "ner"), ("Warsaw", "GPE", "ner"), ("Pierre Curie", "PERSON", "ner"),
                   ("Paris", "GPE", "ner"), ("Henri Becquerel", "PERSON", "ner")}


def test_every_mention_points_at_its_text_and_sentence(kg: KnowledgeGraph, sample_kg: KnowledgeGraph) -> None:
    for g in (kg, sample_kg):
        ms = rows(g.path, 'SELECT c.text, m.start, m."end", m.surface, m.sent_start, m.sent_end FROM mentions m '
                          "JOIN chunks c ON c.id = m.chunk_id")
        assert len(ms) >= 20
        for text, a, b, surface, sa, sb in ms:
            assert text[a:b] == surface
            assert sa <= a < b <= sb


def test_gazetteer_finds_a_title_that_ner_misses(kg: KnowledgeGraph, docs: dict[str, Path]) -> None:
    sentence = "Readers loved Blue Orchard Summer."
    assert "Blue Orchard Summer" not in {e.text for e in kg.extractor.ner.nlp(sentence).ents}  # the premise
    film = about(kg, docs["film.jsonl"])
    assert film is not None and film[1] == "Blue Orchard Summer"
    hits = [m for m in mentions(kg, docs["notes.txt"]) if m[0] == "Blue Orchard Summer"]
    assert [(m[2], m[3]) for m in hits] == [("gazetteer", film[0])]


def test_document_title_is_linked_as_what_the_document_is_about(kg: KnowledgeGraph, docs: dict[str, Path]) -> None:
    by_source = {Path(d.source.split("#")[0]).name: d for d in kg.documents()}
    assert by_source["film.jsonl"].about == "Blue Orchard Summer"
    assert by_source["schneider.txt"].about == "Willi Schneider"
    assert by_source["born.txt"].about is None  # no title line: named after the file, about nothing
    (eid, name, typ, _) = about(kg, docs["schneider.txt"])
    assert typ == "PERSON"  # typed by how NER labels the same name in the text
    assert ("Willi Schneider", "title") in set(rows(kg.path, "SELECT alias, source FROM aliases WHERE entity_id = ?",
                                                    (eid,)))


def test_short_form_links_to_the_full_name_in_the_same_document(kg: KnowledgeGraph, docs: dict[str, Path]) -> None:
    ms = mentions(kg, docs["schneider.txt"])
    full = [m for m in ms if m[0] == "Willi Schneider"]
    short = [m for m in ms if m[0] == "Schneider"]
    assert full and short
    assert {m[3] for m in full} == {m[3] for m in short} == {about(kg, docs["schneider.txt"])[0]}
    assert all(m[5] == 0.9 for m in short)
    assert rows(kg.path, "SELECT count(*) FROM entities WHERE name = 'Schneider'") == [(0,)]


def test_acronym_links_to_the_full_name_in_the_same_document(kg: KnowledgeGraph, docs: dict[str, Path]) -> None:
    ms = mentions(kg, docs["nasa.txt"])
    full = [m for m in ms if m[0] == "The National Aeronautics and Space Administration"]
    acr = [m for m in ms if m[0] == "NASA"]
    assert len(full) == 1 and len(acr) == 1
    assert acr[0][3] == full[0][3]
    assert full[0][4] == "National Aeronautics and Space Administration"  # the name drops the article
    assert rows(kg.path, "SELECT count(*) FROM entities WHERE name = 'NASA'") == [(0,)]


def test_relations_in_one_sentence_with_parser_predicates(kg: KnowledgeGraph) -> None:
    rels = relations(kg)
    assert ("Marie Curie", "born_in", "Warsaw") in rels
    assert ("Willi Schneider", "born_in", "Berlin") in rels
    # 'worked in' a city and 'worked with' a person: no predicate of the schema fits, the edge stays unnamed.
    related = {frozenset((h, t)) for h, p, t in rels if p == "related_to"}
    assert {frozenset(("Pierre Curie", "Paris")), frozenset(("Pierre Curie", "Henri Becquerel"))} <= related
    # Entities in different sentences are not related.
    assert not {(h, t) for h, _, t in rels} & {("Marie Curie", "Paris"), ("Paris", "Marie Curie"),
                                              ("Warsaw", "Pierre Curie"), ("Pierre Curie", "Warsaw")}
    card = kg.entity("Marie Curie")
    (born,) = [r for r in card.relations if r.predicate == "born_in"]
    assert (born.head, born.tail, born.weight) == ("Marie Curie", "Warsaw", 1.0)
    assert [e.sentence for e in born.evidence] == ["Marie Curie was born in Warsaw."]


def test_evidence_sentence_holds_both_mentions(kg: KnowledgeGraph, sample_kg: KnowledgeGraph) -> None:
    # ... or the tail, and a "he" or "she" standing for the person the document is about (the head).
    pronoun = 0
    for g in (kg, sample_kg):
        ev = rows(g.path, 'SELECT e.chunk_id, e.sent_start, e.sent_end, h.chunk_id, h.start, h."end", t.chunk_id, '
                          't.start, t."end", c.text, h.entity_id = d.about_entity_id FROM relation_evidence e '
                          "JOIN mentions h ON h.id = e.head_mention_id JOIN mentions t ON t.id = e.tail_mention_id "
                          "JOIN chunks c ON c.id = e.chunk_id JOIN documents d ON d.id = c.document_id")
        assert len(ev) >= 8
        for chunk, sa, sb, hc, ha, hb, tc, ta, tb, text, about in ev:
            assert chunk == tc and sa <= ta < tb <= sb
            if not (chunk == hc and sa <= ha < hb <= sb):
                assert about and {"He", "She", "he", "she"} & set(text[sa:ta].split())
                pronoun += 1
    assert pronoun >= 2  # "She died in Cambridge, England." in Lise Meitner's article


def test_parser_off_gives_related_to_with_the_same_evidence(kg_noparse: KnowledgeGraph) -> None:
    rels = relations(kg_noparse)
    assert rels and {p for _, p, _ in rels} == {"related_to"}
    pairs = {frozenset((h, t)) for h, _, t in rels}
    assert frozenset(("Marie Curie", "Warsaw")) in pairs
    assert frozenset(("Pierre Curie", "Henri Becquerel")) in pairs
    card = kg_noparse.entity("Warsaw")
    (rel,) = [r for r in card.relations if "Marie Curie" in (r.head, r.tail)]
    assert [e.sentence for e in rel.evidence] == ["Marie Curie was born in Warsaw."]
    assert kg_noparse.extractor.ner.nlp.has_pipe("senter") and not kg_noparse.extractor.ner.nlp.has_pipe("parser")


def test_title_with_a_description_names_a_typed_entity(kg_noparse: KnowledgeGraph, docs: dict[str, Path]) -> None:
    eid, name, typ, desc = about(kg_noparse, docs["racer.jsonl"])
    assert (name, typ, desc) == ("Willi Schneider", "PERSON", "skeleton racer")
    aliases = set(rows(kg_noparse.path, "SELECT alias, source FROM aliases WHERE entity_id = ?", (eid,)))
    assert ("Willi Schneider (skeleton racer)", "title") in aliases
    assert {m[3] for m in mentions(kg_noparse, docs["racer.jsonl"]) if m[0] == "Willi Schneider"} == {eid}


def test_overlapping_chunks_do_not_duplicate_mentions(tmp_path: Path, make_kg) -> None:
    paras = [f"In {1900 + i} Marie Curie visited Warsaw with Pierre Curie, and Paul Langevin stayed in Paris."
             for i in range(8)]
    text = "\n\n".join(paras)
    kg = make_kg(config=KGConfig(chunk=ChunkConfig(size=200, overlap=120)))
    src = write(tmp_path, "long.txt", text)
    assert kg.ingest([src]).errors == []
    chunks = rows(kg.path, "SELECT id, start_char, end_char FROM chunks ORDER BY ord")
    assert len(chunks) >= 4
    assert any(b[1] < a[2] for a, b in zip(chunks, chunks[1:]))  # they do overlap
    starts = {cid: s for cid, s, _ in chunks}
    ms = rows(kg.path, 'SELECT chunk_id, start, "end", surface FROM mentions')
    absolute = [(starts[c] + a, starts[c] + b, s) for c, a, b, s in ms]
    assert len(absolute) == len(set(absolute))  # each place in the text is one mention, whatever chunk saw it
    for a, b, s in absolute:
        assert text[a:b] == s
    marie = sorted(a for a, _, s in absolute if s == "Marie Curie")
    assert len(marie) == text.count("Marie Curie") == 8


def test_components_can_be_switched_off(tmp_path: Path, make_kg, docs: dict[str, Path]) -> None:
    kg = make_kg(config=KGConfig(extract=ExtractConfig(components=("ner", "linker"))))
    assert kg.ingest([docs["film.jsonl"], docs["notes.txt"], docs["born.txt"]]).errors == []
    assert rows(kg.path, "SELECT count(*) FROM relation_evidence") == [(0,)]
    assert rows(kg.path, "SELECT count(*) FROM relations") == [(0,)]
    # No gazetteer: the film title that NER misses in the notes is not found there.
    assert "Blue Orchard Summer" not in {m[0] for m in mentions(kg, docs["notes.txt"])}
    assert {m[0] for m in mentions(kg, docs["born.txt"])} >= {"Marie Curie", "Warsaw"}


def test_worker_processes_keep_every_document_with_its_own_text(tmp_path: Path, make_kg) -> None:
    # Enough passages for spaCy worker processes (over two batches): each document's mentions must come from its
    # own text, so the contexts kept in this process line up with the Docs coming back from the workers.
    people = ["Marie Curie", "Niels Bohr", "Lise Meitner", "Otto Hahn", "Enrico Fermi", "Max Planck", "Paul Dirac"]
    cities = ["Paris", "Copenhagen", "Vienna", "Berlin", "Rome", "Munich", "Bristol"]
    records = [{"id": f"p{i}", "title": f"Passage {i}",
                "text": f"In {1900 + i} {people[i % 7]} gave a lecture in {cities[(i * 3) % 7]}."} for i in range(140)]
    corpus = write(tmp_path, "many.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    kg = make_kg(config=KGConfig(extract=ExtractConfig(n_process=2)))
    report = kg.ingest([corpus])
    assert report.errors == [] and report.documents == 140
    got = rows(kg.path, "SELECT d.source, m.surface FROM mentions m JOIN chunks c ON c.id = m.chunk_id "
                        "JOIN documents d ON d.id = c.document_id")
    by_doc: dict[str, set[str]] = {}
    for source, surface in got:
        by_doc.setdefault(source.rsplit("#", 1)[-1], set()).add(surface)
    for i, r in enumerate(records):
        assert by_doc[r["id"]] <= {people[i % 7], cities[(i * 3) % 7]}, (r, by_doc[r["id"]])
        assert cities[(i * 3) % 7] in by_doc[r["id"]]
