"""The bundled sample's graph as a reader sees it: one entity per real thing, of one type, and no junk names."""

from __future__ import annotations

from conftest import rows

from kg.api import KnowledgeGraph

# (name, type): each is exactly one entity of the graph, whatever labels NER gave its mentions.
ONE_ENTITY = [
    ("Pierre Curie", "PERSON"), ("Irène Joliot-Curie", "PERSON"), ("Frédéric Joliot-Curie", "PERSON"),
    ("Ernest Rutherford", "PERSON"), ("Niels Bohr", "PERSON"), ("Albert Einstein", "PERSON"),
    ("Lise Meitner", "PERSON"), ("Otto Hahn", "PERSON"), ("Paris", "GPE"), ("Warsaw", "GPE"),
    ("Radium Institute", "ORG"), ("University of Paris", "ORG"), ("ESPCI Paris", "ORG"),
    ("University of Manchester", "ORG"), ("Second World War", "EVENT"), ("Franco-Prussian War", "EVENT"),
]


def test_the_sample_has_one_entity_per_name_and_its_type(sample_kg: KnowledgeGraph) -> None:
    have = rows(sample_kg.path, "SELECT name, type FROM entities WHERE merged_into_id IS NULL")
    for name, typ in ONE_ENTITY:
        assert [t for n, t in have if n == name] == [typ], name
    # Marie Curie is two: the scientist and the charity of that name ("Marie Curie (charity)").
    assert sorted(t for n, t in have if n == "Marie Curie") == ["ORG", "PERSON"]


def test_short_names_fuse_across_documents_into_the_full_name(sample_kg: KnowledgeGraph) -> None:
    names = {n for (n,) in rows(sample_kg.path, "SELECT name FROM entities")}
    assert not names & {"Rutherford", "Maria Skłodowska", "Kaiser Wilhelm Society", "Later Solvay Conferences"}
    card = sample_kg.entity("Ernest Rutherford")
    assert [(f.name, f.rule) for f in card.fused] == [("Rutherford", "contained")]
    assert "Rutherford" in {a.alias for a in card.aliases}
    assert {(f.name, f.into) for f in sample_kg.fusions()["fused"]} >= {
        ("Rutherford", "Ernest Rutherford"), ("Maria Skłodowska", "Maria Skłodowska-Curie")}


def test_no_entity_is_two_names_joined(sample_kg: KnowledgeGraph) -> None:
    names = {n for (n,) in rows(sample_kg.path, "SELECT name FROM entities")}
    joined = [n for n in names for sep in (" and ", ", ") if sep in n
              and all(part.strip() in names for part in n.replace(", ", " and ").split(" and "))]
    assert joined == []
    assert not names & {"Irène Joliot-Curie and Frédéric Joliot-Curie", "Niels Bohr and Einstein",
                        "Einstein and Curie", "Second World War the Kaiser Wilhelm Society"}


def test_relations_are_named_from_the_schema_or_related_to(sample_kg: KnowledgeGraph) -> None:
    from extract.schema import RELATED_TO, WIKIDATA

    predicates = {p for (p,) in rows(sample_kg.path, "SELECT DISTINCT predicate FROM relations")}
    assert predicates <= set(WIKIDATA) | {RELATED_TO}
    assert {"born_in", "award_received", "director_of"} <= predicates
    named = set(rows(sample_kg.path, "SELECT h.name, r.predicate, t.name FROM relations r JOIN entities h ON "
                                     "h.id = r.head_id JOIN entities t ON t.id = r.tail_id"))
    assert {("Marie Curie", "born_in", "Warsaw"), ("Marie Curie", "director_of", "Radium Institute"),
            ("Otto Hahn", "award_received", "Nobel Prize in Chemistry")} <= named
    # "Pierre Curie married Marie, who was born in Warsaw" says nothing of where he was born.
    assert ("Pierre Curie", "born_in", "Warsaw") not in named
