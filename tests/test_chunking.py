"""kg.chunking: sentence-aware chunks whose offsets point exactly into the document text."""

from __future__ import annotations

import re

import pytest
from conftest import SAMPLE
from hypothesis import given, settings
from hypothesis import strategies as st

from kg.chunking import ChunkConfig, Chunker
from kg.loaders import load


def check_chunks(text: str, chunks, size: int, overlap: int) -> None:  # type: ignore[no-untyped-def]
    """The invariants every split must keep."""
    assert [c.ord for c in chunks] == list(range(len(chunks)))
    covered: set[int] = set()
    for i, c in enumerate(chunks):
        assert text[c.start_char:c.end_char] == c.text
        assert c.end_char - c.start_char == len(c.text)
        assert 0 < len(c.text) <= size
        assert c.text == c.text.strip()
        if i:
            prev = chunks[i - 1]
            assert c.start_char >= prev.start_char
            assert c.start_char >= prev.end_char - overlap  # overlap never exceeds the configured amount
            assert text[prev.end_char:c.start_char].strip() == ""  # no text skipped between chunks
        covered.update(range(c.start_char, c.end_char))
    missed = [i for i, ch in enumerate(text) if not ch.isspace() and i not in covered]
    assert not missed, f"characters in no chunk: {missed[:10]}"


def test_short_text_is_one_chunk_covering_it_all() -> None:
    text = "Marie Curie was born in Warsaw."
    (c,) = Chunker(ChunkConfig(size=100, overlap=10)).split(text)
    assert (c.ord, c.text, c.start_char, c.end_char) == (0, text, 0, len(text))


def test_sample_document_offsets_are_exact_and_size_and_overlap_respected() -> None:
    (doc,) = load(SAMPLE / "people" / "marie_curie.txt")
    text = doc.page_content
    for size, overlap in [(1200, 150), (300, 60), (120, 0), (80, 40)]:
        chunks = Chunker(ChunkConfig(size=size, overlap=overlap)).split(text)
        assert len(chunks) >= len(text) // size
        check_chunks(text, chunks, size, overlap)


def test_overlap_repeats_the_end_of_the_previous_chunk() -> None:
    text = " ".join(f"Sentence number {i} talks about radium." for i in range(40))
    chunks = Chunker(ChunkConfig(size=200, overlap=80)).split(text)
    check_chunks(text, chunks, 200, 80)
    overlaps = [prev.end_char - c.start_char for prev, c in zip(chunks, chunks[1:])]
    assert all(o > 0 for o in overlaps), overlaps  # sentences are short enough to be carried over
    no_overlap = Chunker(ChunkConfig(size=200, overlap=0)).split(text)
    assert all(b.start_char >= a.end_char for a, b in zip(no_overlap, no_overlap[1:]))


def test_chunks_break_at_sentence_ends_not_inside_sentences() -> None:
    sentences = [f"In {1890 + i} the laboratory measured sample {i} with great care." for i in range(30)]
    text = " ".join(sentences)
    chunks = Chunker(ChunkConfig(size=250, overlap=0)).split(text)
    assert len(chunks) > 5
    for c in chunks:
        assert c.text.startswith("In ") and c.text.endswith("care."), c.text
        assert len(re.findall(r"care\.", c.text)) == c.text.count("In 1")


def test_paragraphs_are_preferred_over_sentences() -> None:
    paras = ["First paragraph. It has two sentences.", "Second paragraph is here. Short.",
             "Third one. Also short.", "Fourth and last paragraph of the text."]
    text = "\n\n".join(paras)
    chunks = Chunker(ChunkConfig(size=80, overlap=0)).split(text)
    assert [c.text for c in chunks] == [paras[0] + "\n\n" + paras[1], paras[2] + "\n\n" + paras[3]] or \
        [c.text for c in chunks] == paras
    for c in chunks:
        assert c.text in paras or "\n\n" in c.text


def test_run_on_text_without_separators_is_split_by_characters() -> None:
    text = "x" * 500
    chunks = Chunker(ChunkConfig(size=100, overlap=20)).split(text)
    check_chunks(text, chunks, 100, 20)
    assert chunks[-1].end_char == 500


def test_repeated_text_gets_the_offsets_of_its_own_copy() -> None:
    # Regression: the second chunk is identical to the first, and used to be placed on top of it at offset 0,
    # leaving the second half of the text in no chunk.
    text = "x" * 30 + " " + "x" * 30
    chunks = Chunker(ChunkConfig(size=50, overlap=30)).split(text)
    assert [(c.start_char, c.end_char) for c in chunks] == [(0, 30), (31, 61)]
    # Regression: a periodic text where the first copy after the overlap window is too early, and the last
    # copy of every chunk runs out of text before the chunks do; only a consistent placement covers it all.
    text = " ".join(["Curie"] * 10)
    chunks = Chunker(ChunkConfig(size=50, overlap=5)).split(text)
    check_chunks(text, chunks, 50, 5)
    assert chunks[-1].end_char == len(text)
    text = "A line that repeats.\n" * 12
    chunks = Chunker(ChunkConfig(size=60, overlap=25)).split(text)
    check_chunks(text, chunks, 60, 25)
    assert chunks[-1].end_char == len(text.rstrip())


@pytest.mark.parametrize("size, overlap", [(49, 0), (0, 0), (100, 100), (100, 150), (100, -1)])
def test_invalid_config_is_rejected(size: int, overlap: int) -> None:
    with pytest.raises(ValueError, match="chunk (size|overlap)"):
        ChunkConfig(size=size, overlap=overlap)


_WORDS = st.sampled_from(["Curie", "radium.", "Paris,", "was", "born!", "why?", "x" * 25, "a; b", "\n", "\n\n",
                          "ab", "ab.", "Marie Curie"])


@settings(max_examples=150, deadline=None, database=None)
@given(words=st.lists(_WORDS, max_size=250), size=st.integers(50, 250), overlap=st.integers(0, 120))
def test_split_invariants_hold_for_any_text(words: list[str], size: int, overlap: int) -> None:
    overlap = min(overlap, size - 1)
    text = " ".join(words)
    chunks = Chunker(ChunkConfig(size=size, overlap=overlap)).split(text)
    if len(text) <= size:
        assert [(c.start_char, c.end_char) for c in chunks] == [(0, len(text))]
        return
    check_chunks(text, chunks, size, overlap)
