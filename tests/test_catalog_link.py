"""extract.catalog and extract.link: candidates for a surface, and choosing among them (or a new entity)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import KB_SAMPLE, SAMPLE, rows

from extract.catalog import EntityCatalog
from extract.link import LinkConfig, Linker, type_compat
from kg.api import KnowledgeGraph
from kg.pipeline import load_catalog


def kinds(catalog: EntityCatalog, surface: str, **kw) -> dict[int, str]:  # type: ignore[no-untyped-def]
    return {c.ref: c.kind for c in catalog.candidates(surface, **kw)}


@pytest.fixture
def catalog() -> EntityCatalog:
    c = EntityCatalog()
    c.add_entity(1, "Marie Curie", "PERSON")
    c.add_alias(1, "Maria Skłodowska")
    c.add_alias(1, "Madame Curie")
    c.add_entity(2, "University of Paris", "ORG")
    c.add_alias(2, "the Sorbonne")
    c.add_entity(3, "Centre National de la Recherche Scientifique", "ORG")
    c.add_entity(4, "NASA", "ORG")
    c.add_entity(5, "Ernest Rutherford", "PERSON")
    c.add_entity(6, "Zürich", "GPE")
    c.add_entity(7, "Bohr", "PERSON")
    return c


# -- candidates ----------------------------------------------------------------------------------------------
def test_exact_alias_candidates(catalog: EntityCatalog) -> None:
    for surface in ("Marie Curie", "MARIE CURIE", "Madame Curie", "Marie Curie's", "maria skłodowska"):
        (c,) = catalog.candidates(surface)
        assert (c.ref, c.kind, c.name_sim) == (1, "exact", 1.0), surface
    assert kinds(catalog, "Sorbonne") == {2: "exact"}  # the alias was "the Sorbonne"
    assert catalog.candidates("Warsaw") == []


def test_accent_folded_surface_finds_the_accented_name(catalog: EntityCatalog) -> None:
    (c,) = catalog.candidates("Zurich")
    assert (c.ref, c.kind, c.name_sim) == (6, "exact", 0.97)


def test_accented_surface_finds_the_unaccented_name() -> None:
    c = EntityCatalog()
    c.add_entity(1, "Malmo", "GPE")
    assert kinds(c, "Malmö") == {1: "exact"}


def test_acronym_candidates_in_both_directions(catalog: EntityCatalog) -> None:
    assert kinds(catalog, "CNRS") == {3: "acronym"}
    assert kinds(catalog, "C.N.R.S.") == {3: "acronym"}
    assert kinds(catalog, "National Aeronautics and Space Administration") == {4: "acronym"}
    assert catalog.candidates("CNRS")[0].name_sim == 0.9
    assert kinds(catalog, "NSA") == {}


def test_acronym_of_an_entity_added_by_alias() -> None:
    c = EntityCatalog()
    c.add_entity(1, "École supérieure de physique et de chimie industrielles de la ville de Paris", "ORG")
    c.add_alias(1, "ESPCI Paris")
    c.add_alias(1, "ESPCI")
    assert kinds(c, "ESPCI") == {1: "exact"}


def test_espci_acronym_matches_its_full_name() -> None:
    c = EntityCatalog()
    c.add_entity(1, "École Supérieure de Physique et de Chimie Industrielles", "ORG")
    assert kinds(c, "ESPCI") == {1: "acronym"}


def test_fuzzy_candidates_are_spelling_variants_only(catalog: EntityCatalog) -> None:
    (c,) = catalog.candidates("Ernest Rutherfurd")
    assert (c.ref, c.kind) == (5, "fuzzy") and 0.88 <= c.name_sim < 1.0
    (c,) = catalog.candidates("Maria Sklodowska")  # ł does not fold to l: a spelling variant
    assert (c.ref, c.kind) == (1, "fuzzy")
    assert catalog.candidates("Ernest Rutherfurd", fuzzy_cutoff=None) == []
    assert catalog.candidates("Marie Curie UK") == []  # an extra word is not a variant
    assert catalog.candidates("Bohn") == []  # single short names are not fuzzy-matched: too risky...
    assert catalog.candidates("Rutherford") == []  # ...and a part of a name is not the name


def test_type_compatibility() -> None:
    assert type_compat("PERSON", "PERSON") == 1.0
    assert type_compat("GPE", "LOC") == 0.85
    assert type_compat("ORG", "GPE") == 0.5
    assert type_compat("PERSON", "ORG") == 0.25
    assert type_compat("PERSON", "GPE") == 0.1
    assert type_compat("MISC", "PERSON") == 0.7


def test_same_name_of_a_different_type_is_not_merged_blindly() -> None:
    c = EntityCatalog()
    c.add_entity(1, "Marie Curie", "PERSON", mentions=40)
    linker = Linker(c)
    d = linker.link("Marie Curie", "PERSON", set())
    assert d.ref == 1 and d.confidence >= linker.config.threshold
    d = linker.link("Marie Curie", "ORG", set())  # the charity: same name, another kind of thing
    assert d.ref is None
    c.add_entity(2, "Marie Curie", "ORG")
    assert linker.link("Marie Curie", "ORG", set()).ref == 2
    assert linker.link("Marie Curie", "PERSON", set()).ref == 1


def test_kb_entities_are_preferred_and_context_helps() -> None:
    c = EntityCatalog()
    c.add_entity(1, "Pierre Curie", "PERSON")
    c.add_entity(2, "Pierre Curie", "PERSON", kb=True)
    linker = Linker(c)
    assert linker.link("Pierre Curie", "PERSON", set()).ref == 2
    c.add_entity(3, "Radium", "MISC")
    c.add_cooccurrence(1, 3)
    assert linker.link("Pierre Curie", "PERSON", {3}).ref == 1  # shared neighbours outweigh the KB bonus


def test_weak_candidates_fall_below_the_threshold() -> None:
    c = EntityCatalog()
    c.add_entity(1, "Ernest Rutherford", "PERSON")
    assert Linker(c).link("Ernest Rutherfurd", "PERSON", set()).ref == 1
    assert Linker(c, LinkConfig(threshold=0.99)).link("Ernest Rutherfurd", "PERSON", set()).ref is None
    assert Linker(c).link("Ernest Rutherfurd", "GPE", set()).ref is None


# -- the store's catalog, KB first ---------------------------------------------------------------------------
def test_load_catalog_marks_kb_entities_and_indexes_their_aliases(make_kg) -> None:
    kg = make_kg()
    report = kg.import_kb(KB_SAMPLE)
    assert (report.created, report.updated, report.errors) == (11, 0, [])
    cat = load_catalog(kg.db)
    assert len(cat.entities) == 11 and all(e.kb for e in cat.entities.values())
    refs = kinds(cat, "Madame Curie")
    assert len(refs) == 1 and cat.entities[next(iter(refs))].type == "PERSON"
    two = kinds(cat, "Marie Curie")
    assert sorted(cat.entities[r].type for r in two) == ["ORG", "PERSON"]
    assert [cat.entities[r].name for r in kinds(cat, "Sorbonne")] == ["University of Paris"]


def test_after_kb_import_mentions_link_to_kb_entities(make_kg) -> None:
    kg = make_kg()
    kg.import_kb(KB_SAMPLE)
    assert kg.ingest([SAMPLE / "people" / "marie_curie.txt"]).errors == []
    db = kg.path
    linked = rows(db, "SELECT m.surface, e.kb_id FROM mentions m JOIN entities e ON e.id = m.entity_id")
    assert ("Marie Curie", "Q7186") in linked
    assert ("University of Paris", "Q209842") in linked  # the article is trimmed from the span
    assert ("Warsaw", "Q270") in linked and ("Pierre Curie", "Q37463") in linked
    assert ("Irène Joliot-Curie", "Q7504") in linked
    assert {kb for s, kb in linked if s == "Marie Curie"} == {"Q7186"}
    # No second "Marie Curie" person appeared beside the KB one, and the document is about the KB entity.
    assert rows(db, "SELECT kb_id FROM entities WHERE name = 'Marie Curie' AND type = 'PERSON'") == [("Q7186",)]
    assert rows(db, "SELECT e.kb_id FROM documents d JOIN entities e ON e.id = d.about_entity_id") == [("Q7186",)]


def test_after_kb_import_the_charity_document_is_about_the_kb_charity(make_kg) -> None:
    kg = make_kg()
    kg.import_kb(KB_SAMPLE)
    assert kg.ingest([SAMPLE / "organisations" / "marie_curie_charity.md"]).errors == []
    assert rows(kg.path, "SELECT e.kb_id, e.type FROM documents d JOIN entities e ON e.id = d.about_entity_id") \
        == [("Q6762596", "ORG")]


def test_sample_keeps_the_scientist_and_the_charity_apart(sample_kg: KnowledgeGraph) -> None:
    about = {Path(d.source).name: d for d in sample_kg.documents()}
    ids = {name: rows(sample_kg.path, "SELECT d.about_entity_id, e.type FROM documents d JOIN entities e "
                                      "ON e.id = d.about_entity_id WHERE d.source = ?", (about[name].source,))[0]
           for name in ("marie_curie.txt", "marie_curie_charity.md", "pierre_curie.txt")}
    (person, ptype), (charity, ctype) = ids["marie_curie.txt"], ids["marie_curie_charity.md"]
    assert person != charity and (ptype, ctype) == ("PERSON", "ORG")
    assert about["marie_curie_charity.md"].about == about["marie_curie.txt"].about == "Marie Curie"
    # Other documents about the scientist link to the person, not the charity.
    (n_person,) = rows(sample_kg.path, "SELECT count(DISTINCT c.document_id) FROM mentions m JOIN chunks c "
                                       "ON c.id = m.chunk_id WHERE m.entity_id = ?", (person,))[0]
    (n_charity,) = rows(sample_kg.path, "SELECT count(DISTINCT c.document_id) FROM mentions m JOIN chunks c "
                                        "ON c.id = m.chunk_id WHERE m.entity_id = ?", (charity,))[0]
    assert n_person >= 10 and n_charity <= 2
