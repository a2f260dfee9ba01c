"""extract: the in-document linking rules (one sense per name, short forms, initials, abbreviations, span trims),
each checked on a real document through the real spaCy model and a real SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import rows, write

from extract.catalog import EntityCatalog
from extract.link import same_person
from extract.normalize import abbreviates
from kg.api import KnowledgeGraph


def linked(kg: KnowledgeGraph, source: Path) -> list[tuple[str, int, str, str]]:
    """(surface, entity id, entity name, entity type) of one document's mentions, in text order."""
    return rows(kg.path, "SELECT m.surface, e.id, e.name, e.type FROM mentions m JOIN chunks c ON c.id = m.chunk_id "
                         "JOIN documents d ON d.id = c.document_id JOIN entities e ON e.id = m.entity_id "
                         "WHERE d.source LIKE ? ORDER BY c.ord, m.start", (f"{source.resolve()}%",))


def ids_of(ms: list[tuple[str, int, str, str]], surface: str) -> set[int]:
    return {eid for s, eid, _, _ in ms if s == surface}


@pytest.mark.parametrize(("short", "long", "expected"), [
    ("ASEAN", "Association of Southeast Asian Nations", True),
    ("APEC", "Asia-Pacific Economic Cooperation", True),
    ("CNRS", "Centre national de la recherche scientifique", True),
    ("ESPCI", "École supérieure de physique et de chimie industrielles", True),
    ("TMF", "The Music Factory", True),
    ("NASA", "Paris Observatory", False),
    ("CNRS", "Council of the European Union and its many national research services", False),  # too many words
    ("UN", "Paris", False),
])
def test_abbreviates(short: str, long: str, expected: bool) -> None:
    assert abbreviates(short, long) is expected


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("j h dearle", "john henry dearle", True),
    ("n c wyeth", "newell convers wyeth", True),
    ("john henry dearle", "john henry dearle", False),  # identical names are the exact rule's job
    ("j h dearle", "john henry smith", False),
    ("j dearle", "john henry dearle", False),
    ("mary h dearle", "john henry dearle", False),
])
def test_same_person(a: str, b: str, expected: bool) -> None:
    assert same_person(a.split(), b.split()) is expected


def test_fuzzy_matching_rejects_extensions_and_near_one_word_names() -> None:
    c = EntityCatalog()
    c.add_entity(1, "Angola", "GPE")
    c.add_entity(2, "Australian", "NORP")
    c.add_entity(3, "Tchaikovsky", "PERSON")
    assert not c.candidates("Angolan")  # an extension, not a spelling variant
    assert not c.candidates("Austrian")  # 88.9 similar, but a different one-word name
    assert [x.ref for x in c.candidates("Tchaikovski")] == [3]


@pytest.fixture(scope="module")
def kg(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeGraph:
    g = KnowledgeGraph(tmp_path_factory.mktemp("rules") / "kg.db")
    yield g
    g.close()


def test_surname_in_a_document_about_a_person_means_that_person(kg: KnowledgeGraph, tmp_path: Path) -> None:
    doc = write(tmp_path, "marie.txt", "Marie Curie\n\nMarie Curie was born in Warsaw. She married Pierre Curie in "
                                       "Paris in 1895. Curie later won a second Nobel Prize.\n")
    assert kg.ingest([doc]).errors == []
    ms = linked(kg, doc)
    marie = ids_of(ms, "Marie Curie")
    assert len(marie) == 1 and ids_of(ms, "Curie") == marie  # the title person, not the latest-named Pierre
    assert ids_of(ms, "Pierre Curie").isdisjoint(marie)


def test_a_lone_surname_ner_misses_is_still_a_mention(kg: KnowledgeGraph, tmp_path: Path) -> None:
    # en_core_web_sm tags no entity on "Curie" in "Curie later won"; the document's own full names supply it.
    doc = write(tmp_path, "curie.txt", "Radium notes\n\nMarie Curie was born in Warsaw. Curie later won a second "
                                       "Nobel Prize.\n")
    assert kg.ingest([doc]).errors == []
    ms = linked(kg, doc)
    assert ids_of(ms, "Curie") == ids_of(ms, "Marie Curie") != set()
    src = rows(kg.path, "SELECT source, label FROM mentions WHERE surface = 'Curie'")
    assert ("surname", "PERSON") in src


def test_initials_and_full_names_of_one_person_meet(kg: KnowledgeGraph, tmp_path: Path) -> None:
    doc = write(tmp_path, "dearle.txt", "Tapestry notes\n\nJohn Henry Dearle designed tapestries in London. "
                                        "In 1896 J. H. Dearle became the art director of the Merton Abbey works.\n")
    assert kg.ingest([doc]).errors == []
    ms = linked(kg, doc)
    full, initials = ids_of(ms, "John Henry Dearle"), ids_of(ms, "J. H. Dearle")
    assert full and full == initials


def test_article_is_trimmed_from_the_mention_span(kg: KnowledgeGraph, tmp_path: Path) -> None:
    doc = write(tmp_path, "uk.txt", "Trade notes\n\nThe treaty was signed by the United Kingdom and the "
                                    "European Union in Brussels.\n")
    assert kg.ingest([doc]).errors == []
    surfaces = [s for s, _, _, _ in linked(kg, doc)]
    assert "United Kingdom" in surfaces and "European Union" in surfaces
    assert not any(s.lower().startswith("the ") for s in surfaces)
    starts = rows(kg.path, "SELECT c.text, m.start, m.\"end\", m.surface FROM mentions m JOIN chunks c "
                           "ON c.id = m.chunk_id WHERE m.surface = 'United Kingdom'")
    assert all(text[a:b] == s for text, a, b, s in starts)


def test_one_sense_per_name_within_a_document(kg: KnowledgeGraph, tmp_path: Path) -> None:
    # en_core_web_sm labels the lone repeated name differently across sentences; it stays one entity here.
    doc = write(tmp_path, "roketsan.txt", "Roketsan\n\nRoketsan is a Turkish weapons manufacturer founded in 1988. "
                                          "Roketsan builds rockets in Ankara. The engineers of Roketsan tested a "
                                          "missile in 2019.\n")
    assert kg.ingest([doc]).errors == []
    ms = linked(kg, doc)
    assert len(ids_of(ms, "Roketsan")) == 1


def test_a_street_named_after_a_person_lends_no_short_form(kg: KnowledgeGraph, tmp_path: Path) -> None:
    doc = write(tmp_path, "gretzky.txt", "Edmonton roads\n\nWayne Gretzky Drive runs through Edmonton. "
                                         "The road honours Gretzky, who played for the Edmonton Oilers.\n")
    assert kg.ingest([doc]).errors == []
    ms = linked(kg, doc)
    drive = ids_of(ms, "Wayne Gretzky Drive")
    assert drive and ids_of(ms, "Gretzky").isdisjoint(drive)


@pytest.mark.parametrize(("text", "start", "end", "kept"), [
    ("He met the United Kingdom delegation.", 2, 5, "United Kingdom"),
    ("Frédéric married later Irène Joliot-Curie in 1926.", 2, 7, "Irène Joliot-Curie"),
    ("A portrait of Charles de Gaulle hangs here.", 3, 6, "Charles de Gaulle"),
    ("They admired de Gaulle's speech.", 2, 5, "de Gaulle"),
    ("It was the .", 2, 4, None),
    ("The score fell by − today.", 4, 5, None),  # a symbol NER took for a name
])
def test_trim_drops_swept_in_words_but_keeps_name_particles(text: str, start: int, end: int,
                                                            kept: str | None) -> None:
    from spacy.tokens import Span

    from extract.names import trim
    from extract.ner import load_pipeline

    nlp = load_pipeline(parser=False)
    doc = nlp.make_doc(text)
    out = trim(Span(doc, start, end, label="PERSON"))
    assert (out.text if out is not None else None) == kept
    if out is not None:
        assert out.label_ == "PERSON"
