"""Which of NER's spans are names (``extract.names``): conjunctions split, run-on names cut, junk dropped."""

from __future__ import annotations

import pytest
from spacy.tokens import Doc, Span

from extract.names import junk, name_spans, split_conjunction, split_run_on


@pytest.fixture(scope="module")
def make_doc():  # type: ignore[no-untyped-def]
    from extract.ner import load_pipeline

    nlp = load_pipeline(parser=False)
    return nlp.make_doc


def whole(doc: Doc, label: str) -> Span:
    return Span(doc, 0, len(doc), label=label)


@pytest.mark.parametrize(("text", "label", "known", "names"), [
    ("Irène Joliot-Curie and Frédéric Joliot-Curie", "ORG", ("Irène Joliot-Curie", "Frédéric Joliot-Curie"),
     ["Irène Joliot-Curie", "Frédéric Joliot-Curie"]),
    ("Irène Joliot-Curie and Frédéric Joliot-Curie", "ORG", ("Irène Joliot-Curie",),
     ["Irène Joliot-Curie and Frédéric Joliot-Curie"]),
    ("National Aeronautics and Space Administration", "ORG", (), ["National Aeronautics and Space Administration"]),
    ("The National Aeronautics and Space Administration", "ORG", (),
     ["The National Aeronautics and Space Administration"]),
    ("Food and Drug Administration", "ORG", (), ["Food and Drug Administration"]),
    ("Niels Bohr and Einstein", "PERSON", (), ["Niels Bohr", "Einstein"]),
    ("Bohr, Curie and Einstein", "PERSON", (), ["Bohr", "Curie", "Einstein"]),
    ("Einstein and Curie", "ORG", ("Einstein", "Curie"), ["Einstein", "Curie"]),
    # A conjunction inside a name stays.
    ("Einstein and Curie", "ORG", ("Einstein",), ["Einstein and Curie"]),
    ("Marks and Spencer", "ORG", (), ["Marks and Spencer"]),
    ("Procter & Gamble", "ORG", (), ["Procter & Gamble"]),
    ("Johnson & Johnson Services", "ORG", (), ["Johnson & Johnson Services"]),
    ("Department of Health and Social Care", "ORG", (), ["Department of Health and Social Care"]),
    ("Bosnia and Herzegovina", "GPE", (), ["Bosnia and Herzegovina"]),
    ("Marie Curie", "PERSON", (), ["Marie Curie"]),
])
def test_a_conjunction_of_names_is_split_into_its_names(make_doc, text: str, label: str, known: tuple[str, ...],
                                                        names: list[str]) -> None:
    doc = make_doc(text)
    assert [s.text for s in split_conjunction(whole(doc, label), set(known).__contains__)] == names


@pytest.mark.parametrize(("text", "names"), [
    ("Second World War the Kaiser Wilhelm Society", ["Second World War", "Kaiser Wilhelm Society"]),
    ("Jack the Ripper", ["Jack the Ripper"]),
    ("Alexander the Great", ["Alexander the Great"]),
    ("Frederick William the Great", ["Frederick William the Great"]),
    ("Museum of the City of New York", ["Museum of the City of New York"]),
])
def test_two_names_run_together_are_cut_apart(make_doc, text: str, names: list[str]) -> None:
    assert [s.text for s in split_run_on(whole(make_doc(text), "ORG"))] == names


@pytest.mark.parametrize(("text", "is_junk"), [
    ("river.upper", True), ("parse_args", True), ("main()", True), ("x = 3", True), ("1990s", True),
    ("12 km", True), ("5th", True), ("40%", True),
    ("3M", False), ("F-16", False), ("Boeing 747", False), ("U.S.", False), ("St. Louis", False),
    ("Node.js", False), ("AT&T", False), ("Marie Curie", False), ("C++", False),
])
def test_code_and_numbers_are_not_names(make_doc, text: str, is_junk: bool) -> None:
    assert junk(whole(make_doc(text), "PRODUCT")) is is_junk


def test_name_spans_cut_at_emoji_and_keep_one_name_per_span(make_doc) -> None:
    doc = make_doc("🚀 Acme Rockets and Niels Bohr | river.upper")
    doc.ents = [Span(doc, 0, len(doc) - 2, label="PERSON"), Span(doc, len(doc) - 1, len(doc), label="PERSON")]
    assert [s.text for s in name_spans(doc, frozenset({"PERSON"}))] == ["Acme Rockets", "Niels Bohr"]


def test_split_names_keep_only_the_label_ner_gave_them(make_doc) -> None:
    people = split_conjunction(whole(make_doc("Niels Bohr and Einstein"), "PERSON"))
    assert [s.label_ for s in people] == ["PERSON", "PERSON"]  # a list of people is people
    firm = split_conjunction(whole(make_doc("Irène Joliot-Curie and Frédéric Joliot-Curie"), "ORG"),
                             {"Irène Joliot-Curie", "Frédéric Joliot-Curie"}.__contains__)
    assert [s.label_ for s in firm] == ["MISC", "MISC"]  # NER's ORG was for the whole, not for either name
    run_on = split_run_on(whole(make_doc("Second World War the Kaiser Wilhelm Society"), "EVENT"))
    assert [s.label_ for s in run_on] == ["EVENT", "MISC"]


def test_a_bracket_left_open_cuts_the_name(make_doc) -> None:
    doc = make_doc("The Radium Institute (Institut du Radium in Paris")
    doc.ents = [Span(doc, 1, 7, label="ORG")]
    assert [s.text for s in name_spans(doc, frozenset({"ORG"}))] == ["Radium Institute", "Institut du Radium"]
    doc = make_doc("The Institut Curie (Paris) opened")
    doc.ents = [Span(doc, 1, 6, label="ORG")]
    assert [s.text for s in name_spans(doc, frozenset({"ORG"}))] == ["Institut Curie (Paris)"]


def test_a_word_that_opens_the_sentence_for_the_verb_is_trimmed() -> None:
    from extract.names import trim
    from extract.ner import load_pipeline

    nlp = load_pipeline(parser=True)
    doc = nlp("The meeting was a turning point. Later Solvay Conferences became famous in their own right.")
    start = [t.i for t in doc if t.text == "Later"][0]
    name = trim(Span(doc, start, start + 3, label="ORG"))
    assert name is not None and name.text == "Solvay Conferences"
    doc = nlp("Marie Curie was born in Warsaw. Lise Meitner died in Cambridge.")
    for first in (0, [t.i for t in doc if t.text == "Lise"][0]):  # a given name opening the sentence stays
        span = Span(doc, first, first + 2, label="PERSON")
        assert trim(span) == span
