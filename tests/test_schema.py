"""Named relations (``extract.schema``): the dependency phrase and the two entities' types choose a predicate."""

from __future__ import annotations

import pytest

from extract.schema import RELATED_TO, RULES, WIKIDATA, name


@pytest.mark.parametrize(("phrase", "head", "tail", "tail_name", "expected"), [
    ("born_in", "PERSON", "GPE", "Warsaw", ("born_in", False)),
    ("born", "PERSON", "GPE", "Warsaw", ("born_in", False)),
    ("born_to", "PERSON", "PERSON", "Pierre Curie", ("child_of", False)),
    ("died_in", "PERSON", "GPE", "Sancellemoz", ("died_in", False)),
    ("married", "PERSON", "PERSON", "Pierre Curie", ("spouse_of", False)),
    ("daughter_of", "PERSON", "PERSON", "Marie Curie", ("child_of", False)),
    ("father_of", "PERSON", "PERSON", "Irène Joliot-Curie", ("child_of", True)),
    ("founded", "PERSON", "ORG", "Radium Institute", ("founded_by", True)),
    ("founded_by", "ORG", "PERSON", "Marie Curie", ("founded_by", False)),
    ("received", "PERSON", "WORK_OF_ART", "Nobel Prize in Physics", ("award_received", False)),
    ("won", "PERSON", "EVENT", "the 1936 election", (RELATED_TO, False)),
    ("studied_at", "PERSON", "ORG", "University of Paris", ("educated_at", False)),
    ("worked_at", "PERSON", "ORG", "Radium Institute", ("employed_by", False)),
    ("directed", "PERSON", "ORG", "Radium Institute", ("director_of", False)),
    ("located_in", "ORG", "GPE", "Paris", ("located_in", False)),
    ("written_by", "WORK_OF_ART", "PERSON", "Marie Curie", ("author_of", True)),
    ("member_of", "PERSON", "ORG", "French Academy of Sciences", ("member_of", False)),
    # Nothing in the schema fits: the edge stays, unnamed.
    ("produces", "GPE", "NORP", "American", (RELATED_TO, False)),
    ("physicist", "NORP", "PERSON", "Niels Bohr", (RELATED_TO, False)),
    ("born_in", "ORG", "GPE", "Paris", (RELATED_TO, False)),  # an organisation is not born
    ("married", "PERSON", "GPE", "Paris", (RELATED_TO, False)),
    (RELATED_TO, "PERSON", "PERSON", "Pierre Curie", (RELATED_TO, False)),
])
def test_the_phrase_and_the_types_choose_a_schema_predicate(phrase: str, head: str, tail: str, tail_name: str,
                                                             expected: tuple[str, bool]) -> None:
    assert name(phrase, head, tail, tail_name) == expected


def test_every_schema_predicate_maps_to_wikidata() -> None:
    assert {r.predicate for r in RULES} == set(WIKIDATA)
    assert all(direct or inverse for direct, inverse in WIKIDATA.values())
