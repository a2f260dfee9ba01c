"""extract.normalize: the keys of the alias index."""

from __future__ import annotations

import pytest

from extract.normalize import acronym, display_name, fold_accents, looks_like_acronym, normalize, split_title


@pytest.mark.parametrize("raw, norm", [
    ("Marie Curie", "marie curie"),
    ("MARIE CURIE", "marie curie"),
    ("Straße", "strasse"),  # casefold, not lower
    ("ＦＵＬＬ Width", "full width"),  # NFKC folds full-width letters
    ("ﬁssion", "fission"),  # and ligatures
    ("The U.S.", "us"),  # dots vanish, a leading article goes
    ("the Sorbonne", "sorbonne"),
    ("An Introduction", "introduction"),
    ("Theatre of the Absurd", "theatre of the absurd"),  # an article is a whole word, and only the first
    ("Marie Curie's", "marie curie"),  # possessive
    ("Curie’s", "curie"),  # typographic apostrophe
    ("Rock-and-Roll", "rock and roll"),  # other punctuation is a word break
    ("Skłodowska–Curie", "skłodowska curie"),
    ("  Paris ,  France  ", "paris france"),
    ("O'Brien", "obrien"),
    ("!!!", ""),
    ("The", "the"),  # a lone article is a name, not an article
])
def test_normalize(raw: str, norm: str) -> None:
    assert normalize(raw) == norm


def test_names_that_differ_only_in_form_share_a_key() -> None:
    forms = ["The Radium Institute", "radium institute", "RADIUM  INSTITUTE", "Radium-Institute",
             "the Radium Institute's"]
    assert {normalize(f) for f in forms} == {"radium institute"}


@pytest.mark.parametrize("norm, folded", [
    ("école", "ecole"), ("irène joliot curie", "irene joliot curie"), ("zürich", "zurich"), ("paris", "paris"),
])
def test_fold_accents(norm: str, folded: str) -> None:
    assert fold_accents(norm) == folded


@pytest.mark.parametrize("name, acr", [
    ("National Aeronautics and Space Administration", "nasa"),
    ("Centre National de la Recherche Scientifique", "cnrs"),
    ("Commissariat à l'Énergie Atomique", None),  # "à" and "l'Énergie" are not all capitalised words
    ("Kaiser Wilhelm Institute", "kwi"),
    ("Massachusetts Institute of Technology", "mit"),
    ("Marie-Curie Foundation", "mcf"),
    ("Paris", None),  # one word has no acronym
    ("the university of paris", None),  # not capitalised
    ("Solvay Conference 1911", "sc"),  # digits are not initials
])
def test_acronym(name: str, acr: str | None) -> None:
    assert acronym(name) == acr


@pytest.mark.parametrize("surface, expected", [
    ("NASA", True), ("CNRS", True), ("U.S.", True), ("AT&T", True), ("ESPCI", True),
    ("Paris", False), ("A", False), ("nasa", False), ("ABCDEFGHIJ", False), ("CO2", False),
])
def test_looks_like_acronym(surface: str, expected: bool) -> None:
    assert looks_like_acronym(surface) is expected


@pytest.mark.parametrize("title, parts", [
    ("Willi Schneider (skeleton racer)", ("Willi Schneider", "skeleton racer")),
    ("Marie Curie (charity)", ("Marie Curie", "charity")),
    ("Marie Curie", ("Marie Curie", None)),
    ("Mercury (planet) and more", ("Mercury (planet) and more", None)),  # not at the end: part of the name
    ("(untitled)", ("(untitled)", None)),  # nothing before it: the whole title is the name
    ("Foo ()", ("Foo", None)),
    ("  Paris (city)  ", ("Paris", "city")),
])
def test_split_title(title: str, parts: tuple[str, str | None]) -> None:
    assert split_title(title) == parts


@pytest.mark.parametrize("surface, name", [
    ("the Sorbonne", "Sorbonne"), ("The  Radium\nInstitute", "Radium Institute"), ("Curie's", "Curie"),
    ("the", "the"), ("Theodor Svedberg", "Theodor Svedberg"),
])
def test_display_name(surface: str, name: str) -> None:
    assert display_name(surface) == name
