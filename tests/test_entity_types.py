"""One type per entity (``extract.entity_types``): mention labels weighed, head words and the opening sentence."""

from __future__ import annotations

import pytest

from extract.entity_types import head_type, opening_type, vote_types
from store.records import MentionRecord, NewEntity


@pytest.mark.parametrize(("name", "expected"), [
    ("Sacramento Valley", "LOC"), ("University of Paris", "ORG"), ("Battle of Hastings", "EVENT"),
    ("Kingdom of Poland", "GPE"), ("Radium Institute", "ORG"), ("Church of England", "ORG"),
    ("Piazza Navona", "FAC"), ("Lake Michigan", "LOC"), ("Mount Holyoke College", "ORG"),
    ("Marie Curie", None), ("Paris", None), ("San Antonio Spurs", None),
])
def test_a_head_word_says_what_a_name_is(name: str, expected: str | None) -> None:
    assert head_type(name) == expected


@pytest.mark.parametrize(("sentence", "expected"), [
    ("The Magnetic Zeros is an American indie folk band from Los Angeles.", "ORG"),
    ("Marie Curie was a Polish and naturalised-French physicist and chemist who conducted research.", "PERSON"),
    ("Modesto is a city in California.", "GPE"),
    ("Windy is a 1967 song by the Association.", "WORK_OF_ART"),
    ("The Vistula is the longest river in Poland.", "LOC"),
    ("Paris has been a centre of finance since the 17th century.", None),
])
def test_the_opening_sentence_says_what_its_subject_is(sentence: str, expected: str | None) -> None:
    assert opening_type(sentence) == expected


def mention(entity: int, surface: str, label: str) -> MentionRecord:
    return MentionRecord(0, 0, len(surface), surface, label, "ner", 1.0, 0, 0, entity)


def test_a_full_names_label_outweighs_the_short_forms() -> None:
    new = {-1: NewEntity(-1, "Paul Robeson", "PERSON")}
    ms = [mention(-1, "Paul Robeson", "PERSON"), mention(-1, "Robeson", "ORG"), mention(-1, "Robeson", "GPE")]
    vote_types(ms, new, set())
    assert new[-1].type == "PERSON"
    # A plain count of labels would make it ORG: two short forms against one full name.
    new = {-1: NewEntity(-1, "Paul Robeson", "PERSON")}
    vote_types([mention(-1, "Paul Robeson", "PERSON"), mention(-1, "Robeson", "ORG"), mention(-1, "Robeson", "ORG"),
                mention(-1, "Robeson", "ORG")], new, set())
    assert new[-1].type == "ORG"


def test_head_word_opening_sentence_and_firm_types() -> None:
    new = {-1: NewEntity(-1, "Sacramento Valley", "PERSON"), -2: NewEntity(-2, "Magnetic Zeros", "PERSON"),
           -3: NewEntity(-3, "Marie Curie", "ORG")}
    ms = [mention(-1, "Sacramento Valley", "PERSON"), mention(-2, "Magnetic Zeros", "PERSON"),
          mention(-3, "Marie Curie", "PERSON")]
    vote_types(ms, new, firm={-3}, opening=(-2, "The Magnetic Zeros is an American indie folk band."))
    assert [new[k].type for k in (-1, -2, -3)] == ["LOC", "ORG", "ORG"]  # the firm type (a KB's, a title's) stands
