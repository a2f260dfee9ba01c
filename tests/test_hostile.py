"""Hostile input: fuzzed and oversized files end as one clear error each or as a correct ingest, never a crash.

The loaders and the chunker are fuzzed with hypothesis (random bytes, invalid UTF-8, NULs, nested and unclosed
HTML with scripts, malformed jsonl); a mixed folder of good and hostile files then goes through
``KnowledgeGraph.ingest`` and ``kg ingest``, and the store is checked with sqlite3 directly. Each fuzz test has a
``slow`` twin with many more examples.
"""

from __future__ import annotations

import codecs
import json
import random
import re
import tempfile
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import rows, snapshot, write
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.documents import Document
from langchain_text_splitters import RecursiveCharacterTextSplitter
from test_chunking import check_chunks

from kg.api import KnowledgeGraph
from kg.chunking import SEPARATORS, ChunkConfig, Chunker
from kg.cli import cli
from kg.loaders import MAX_FILE_ENV, MAX_FILE_MB, SUFFIXES, LoadError, load

_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]


def fast(f: Callable[..., None]) -> Callable[..., None]:
    return settings(max_examples=40, deadline=None, database=None, suppress_health_check=_HEALTH)(f)


def slow(f: Callable[..., None]) -> Callable[..., None]:
    return pytest.mark.slow(settings(max_examples=600, deadline=None, database=None, suppress_health_check=_HEALTH)(f))


# What no stored text may hold: C0 controls but tab and newline, CR, non-characters, lone surrogates.
_FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\ufffe\uffff\ud800-\udfff]")
_MB = 1 << 20


def load_file(data: bytes, suffix: str) -> list[Document | LoadError]:
    """``load`` on a fresh file holding ``data``, with every item checked for the invariants of a clean load."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"fuzz{suffix}"
        path.write_bytes(data)
        items = list(load(path))
    for item in items:
        assert isinstance(item, (Document, LoadError)), item
        if isinstance(item, LoadError):
            assert item.where.startswith(str(path)), item
            assert item.reason and "\n" not in item.reason and not _FORBIDDEN.search(item.reason), item
            continue
        text = item.page_content
        assert isinstance(text, str) and text and text == text.strip()
        assert not _FORBIDDEN.search(text), repr(text[:200])
        text.encode("utf-8")  # valid for SQLite and spaCy: no lone surrogate
        for key in ("title", "source"):
            value = item.metadata[key]
            assert isinstance(value, str) and value and not _FORBIDDEN.search(value), (key, value)
        for size, overlap in [(60, 20), (1200, 150)]:
            check_chunks(text, Chunker(ChunkConfig(size, overlap)).split(text), size, overlap)
    return items


def docs_and_errors(items: list[Document | LoadError]) -> tuple[list[Document], list[LoadError]]:
    return [i for i in items if isinstance(i, Document)], [i for i in items if isinstance(i, LoadError)]


# -- random and mutated bytes -------------------------------------------------------------------------------------
_SEED_TEXTS = [b"Marie Curie was born in Warsaw.\n\nShe moved to Paris.",
               b"# Title\n\nSome *markdown* with <b>html</b> and `code`.\n",
               b"<html><head><title>T</title><script>evil()</script></head><body><p>Text</p></body></html>",
               b'{"id": "a", "text": "Good one."}\n{"id": "b", "text": "Two."}\n',
               b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"]


@st.composite
def hostile_bytes(draw: st.DrawFn) -> bytes:
    """Random bytes, or a well-formed seed with random bytes spliced in (NULs, invalid UTF-8, controls)."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=3000))
    data = bytearray(draw(st.sampled_from(_SEED_TEXTS)))
    for _ in range(draw(st.integers(0, 6))):
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(st.one_of(st.binary(min_size=1, max_size=8),
                                     st.sampled_from([b"\x00", b"\xff", b"\xc3", b"\r", b"\x0b", b"\xef\xbb\xbf"])))
    return bytes(data)


def _random_files(data: bytes, suffix: str) -> None:
    items = load_file(data, suffix)
    if suffix != ".jsonl":
        assert len(items) == 1  # one document or one error, never both
    if not data.strip() and suffix in (".txt", ".md", ".html"):
        assert [getattr(i, "reason", None) for i in items] == ["empty document (no text after parsing)"]


_RANDOM = {"data": hostile_bytes(), "suffix": st.sampled_from(SUFFIXES)}
test_random_and_mutated_files_load_cleanly_or_fail_cleanly = fast(given(**_RANDOM)(_random_files))
test_random_and_mutated_files_deep = slow(given(**_RANDOM)(_random_files))


# -- invalid UTF-8, stray NULs --------------------------------------------------------------------------------------
_TEXT_CHARS = st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\ufeff\ufffe\uffff")


def _invalid_utf8(text: str, where: int, bad: int, suffix: str) -> None:
    encoded = text.encode("utf-8")
    cut = len(text[:where].encode("utf-8"))  # a character boundary
    data = encoded[:cut] + bytes([bad]) + encoded[cut:]
    (item,) = load_file(data, suffix)
    assert isinstance(item, LoadError)
    assert item.reason == f"not valid UTF-8 (byte 0x{bad:02x} at offset {cut})"


_INVALID = {"text": st.text(_TEXT_CHARS, max_size=300), "where": st.integers(0, 300),
            "bad": st.sampled_from([0x80, 0xBF, 0xC0, 0xC1, 0xC3, 0xE2, 0xF0, 0xF5, 0xFF]),
            "suffix": st.sampled_from([".txt", ".md", ".html"])}
test_invalid_utf8_names_the_byte_and_its_offset = fast(given(**_INVALID)(_invalid_utf8))
test_invalid_utf8_deep = slow(given(**_INVALID)(_invalid_utf8))


_WORD_LISTS = st.lists(st.text("abcdefghijklmnopqrstuvwxyzCURIE", min_size=1, max_size=12), min_size=12, max_size=60)


def _stray_nul(words: list[str], where: int, control: str, suffix: str) -> None:
    text = " ".join(words)
    at = where % (len(text) + 1)
    (doc,) = load_file((text[:at] + control + text[at:]).encode("utf-8"), suffix)
    assert isinstance(doc, Document), doc
    assert doc.page_content == text  # the stray control character is gone, nothing else changed


_NUL = {"words": _WORD_LISTS, "where": st.integers(0, 10_000), "control": st.sampled_from(["\x00", "\x01", "\x1f"]),
        "suffix": st.sampled_from([".txt", ".md", ".html"])}
test_a_stray_nul_in_text_is_dropped = fast(given(**_NUL)(_stray_nul))
test_a_stray_nul_in_text_deep = slow(given(**_NUL)(_stray_nul))


@pytest.mark.parametrize("data, reason", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01", "binary file (contains NUL bytes), not text"),
    (bytes(range(1, 9)) * 40, "binary file (control bytes), not text"),
    ("Marie Curie in Warsaw".encode("utf-16"), "UTF-16 text, not UTF-8 (convert it, e.g. iconv -f UTF-16 -t UTF-8)"),
    ("Marie Curie in Warsaw".encode("utf-32"), "UTF-32 text, not UTF-8 (convert it, e.g. iconv -f UTF-32 -t UTF-8)"),
])
@pytest.mark.parametrize("suffix", [".txt", ".md", ".html", ".jsonl"])
def test_binary_files_are_refused_with_one_error(data: bytes, reason: str, suffix: str) -> None:
    (e,) = load_file(data, suffix)
    assert isinstance(e, LoadError) and e.reason == reason
    assert e.where.endswith(f"fuzz{suffix}")  # the file, not a line of it


def test_nul_padding_after_text_is_dropped_and_controls_normalised(tmp_path: Path) -> None:
    # A log file preallocated with NULs after its first 8 kB of text: the text is kept and the padding dropped;
    # CR, VT and FF become line breaks.
    line = "Marie Curie was born in Warsaw.\r\nShe moved to Paris.\x0bThen Sèvres.\x0cEnd.\n"
    p = write(tmp_path, "log.txt", (line * 120).encode() + b"\x00" * 20_000)
    (doc,) = load(p)
    assert isinstance(doc, Document), doc
    expected = "Marie Curie was born in Warsaw.\nShe moved to Paris.\nThen Sèvres.\nEnd.\n" * 120
    assert doc.page_content == expected.strip()


# -- HTML: nesting, unclosed markup, scripts ------------------------------------------------------------------------
_SECRET = "SECRETSCRIPT"
_HIDING = ["<script>var s = '{s}'; if (a < b && c > d) {{}}</script>", "<style>p::after {{ content: '{s}' }}</style>",
           "<noscript><p>{s}</p></noscript>", "<template><div><p>{s}</p></div></template>",
           "<script type='text/x' src=\"a>b\">document.write('</p>{s}')</script>",
           "<SCRIPT>'</scr' + 'ipt>{s}'</SCRIPT>", "<template><script>x = '</template>{s}'</script></template>",
           "<!-- {s} -->", "<iframe>{s}</iframe>"]


@st.composite
def nested_html(draw: st.DrawFn) -> tuple[str, list[str]]:
    """Visible words inside arbitrarily deep nesting, with hidden content sprinkled in: (markup, the words)."""
    words = draw(st.lists(st.text("abcdefghijklmnop", min_size=1, max_size=8), min_size=1, max_size=30))
    depth = draw(st.one_of(st.integers(0, 50), st.integers(1000, 30_000)))
    tag = draw(st.sampled_from(["div", "b", "p", "span", "li", "td", "x-custom"]))
    close = draw(st.booleans())  # browsers cope with unclosed tags; so must we
    out = [draw(st.sampled_from(["", "<!DOCTYPE html>", "<html><head><title>T</title></head><body>"]))]
    out.append(f"<{tag} class='a'>" * depth)
    for w in words:
        if draw(st.integers(0, 3)) == 0:
            out.append(draw(st.sampled_from(_HIDING)).format(s=_SECRET))
        out.append(f" {w} " if draw(st.booleans()) else f"<{draw(st.sampled_from(['b', 'p', 'br', 'em']))}> {w} ")
    if close:
        out.append(f"</{tag}>" * depth)
    return "".join(out), words


def _html(case: tuple[str, list[str]], cut: int | None) -> None:
    markup, words = case
    if cut is not None:  # the file ends anywhere, even inside a tag or a script
        markup = markup[:cut % (len(markup) + 1)]
    items = load_file(markup.encode("utf-8"), ".html")
    (item,) = items
    if isinstance(item, LoadError):
        assert item.reason == "empty document (no text after parsing)"
    text = item.page_content if isinstance(item, Document) else ""
    assert _SECRET not in text and "var s" not in text and "content:" not in text
    if cut is None:
        assert text.split() == words
    else:
        assert " ".join(words).startswith(" ".join(text.split()[:-1]))  # a prefix, but for the word cut in two


_HTML = {"case": nested_html(), "cut": st.one_of(st.none(), st.integers(0, 10**6))}
test_nested_and_unclosed_html_keeps_the_words_and_never_script_text = fast(given(**_HTML)(_html))
test_nested_and_unclosed_html_deep = slow(given(**_HTML)(_html))


@pytest.mark.parametrize("markup", [
    "<div>" * 200_000 + "Deep text." + "</div>" * 200_000,
    "<b>" * 200_000 + "Deep text.",
    "<a" * 100_000 + ">Deep text.",
    "<p>Deep text.</p>" + "<a b='" * 50_000,
    "<p>Deep text.</p>" + "</" * 100_000 + "<?" * 100_000 + "<!--" * 10_000,
    "<title>" * 50_000 + "<p>Deep text.</p>",
])
def test_pathological_html_parses_in_one_pass(tmp_path: Path, markup: str) -> None:
    # Python's html.parser is quadratic on unclosed tags (minutes for these); the tokenizer is linear.
    (doc,) = load(write(tmp_path, "deep.html", markup))
    assert isinstance(doc, Document), doc
    assert doc.page_content == "Deep text."


# -- jsonl ----------------------------------------------------------------------------------------------------------
@st.composite
def jsonl_lines(draw: st.DrawFn) -> list[tuple[bytes, str | None, str | None]]:
    """Lines of a jsonl file as (bytes, expected text if it is a document, expected reason prefix if not)."""
    lines: list[tuple[bytes, str | None, str | None]] = []
    for i in range(draw(st.integers(1, 25))):
        kind = "good" if i == 0 else draw(st.sampled_from(
            ["good", "good", "escaped", "malformed", "array", "no_text", "deep", "bigint", "bad_utf8", "blank",
             "empty_text", "deep_meta", "control"]))
        text = " ".join(draw(st.lists(st.text("abcdefgh'\"<>&;%_\\", min_size=1, max_size=6), min_size=1,
                                      max_size=8)))
        rec = {"id": f"r{i}", "text": text, "metadata": {"n": i, "s": "a\u0000b"}}
        if kind == "good":
            lines.append((json.dumps(rec).encode(), text, None))
        elif kind == "escaped":  # a NUL and a lone surrogate escaped in JSON: dropped and replaced
            rec["text"] = text + "\u0000 x\ud800y"
            lines.append((json.dumps(rec).encode(), text + " x\ufffdy", None))
        elif kind == "malformed":
            junk = draw(st.sampled_from(['{"id": "x", "text": ', "{broken", "'single'", "{'a': 1}", "NaN]",
                                         '{"text": "a"} trailing']))
            lines.append((junk.encode(), None, "malformed JSON"))
        elif kind == "array":
            lines.append((b'["text", "not an object"]', None, 'each line must be an object with a string "text"'))
        elif kind == "no_text":
            lines.append((json.dumps({"id": f"r{i}", "title": text}).encode(), None, "each line must be"))
        elif kind == "deep":
            lines.append((b'{"text": "a", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", None, "malformed JSON"))
        elif kind == "bigint":
            lines.append((b'{"text": "a", "n": 1' + b"0" * 5000 + b"}", None, "malformed JSON"))
        elif kind == "bad_utf8":
            lines.append((b'{"text": "caf\xe9"}', None, "not valid UTF-8 (byte 0xe9 at offset"))
        elif kind == "blank":
            lines.append((draw(st.sampled_from([b"", b"   ", b"\t"])), None, None))
        elif kind == "empty_text":
            lines.append((json.dumps({"id": f"r{i}", "text": " \n "}).encode(), None, "empty document"))
        elif kind == "deep_meta":
            meta: Any = "leaf"
            for _ in range(100):
                meta = {"k": meta}
            rec["metadata"] = meta
            lines.append((json.dumps(rec).encode(), None, '"metadata" is nested more than'))
        else:  # a raw control character in a JSON string is invalid JSON
            lines.append((b'{"text": "a\tb"}', None, "malformed JSON"))
    return lines


def _jsonl(lines: list[tuple[bytes, str | None, str | None]], crlf: bool) -> None:
    data = (b"\r\n" if crlf else b"\n").join(line for line, _, _ in lines)
    items = load_file(data, ".jsonl")
    docs, errors = docs_and_errors(items)
    assert [d.page_content for d in docs] == [t.strip() for _, t, _ in lines if t is not None]
    assert all(d.metadata["s"] == "ab" for d in docs)  # metadata strings are cleaned too
    expected = [(n, why) for n, (_, _, why) in enumerate(lines, 1) if why]
    assert len(errors) == len(expected), errors
    for (n, why), e in zip(expected, errors):
        assert e.where.endswith(f"fuzz.jsonl:{n}") and e.reason.startswith(why), (n, why, e)


_JSONL = {"lines": jsonl_lines(), "crlf": st.booleans()}
test_malformed_jsonl_lines_are_reported_by_number_and_the_rest_load = fast(given(**_JSONL)(_jsonl))
test_malformed_jsonl_lines_deep = slow(given(**_JSONL)(_jsonl))


# -- the chunker ----------------------------------------------------------------------------------------------------
_CHUNK_TEXT = st.lists(st.one_of(st.sampled_from(["\n", "\n\n", ". ", "? ", "; ", ", ", " ", "\t", "\u3000", "x" * 40]),
                                 st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)),
                       max_size=150).map("".join)


def _chunker(text: str, size: int, overlap: int) -> None:
    overlap = min(overlap, size - 1)
    chunks = Chunker(ChunkConfig(size, overlap)).split(text)
    if len(text) <= size:
        assert [(c.text, c.start_char, c.end_char) for c in chunks] == [(text, 0, len(text))]
        return
    check_chunks(text, chunks, size, overlap)
    # The same chunks as LangChain's splitter with these settings, placed exactly.
    splitter = RecursiveCharacterTextSplitter(chunk_size=size, chunk_overlap=overlap, separators=SEPARATORS,
                                              keep_separator="end", strip_whitespace=True)
    assert [c.text for c in chunks] == splitter.split_text(text)


_CHUNKS = {"text": _CHUNK_TEXT, "size": st.integers(50, 300), "overlap": st.integers(0, 200)}
test_chunks_are_exact_bounded_and_match_langchain = fast(given(**_CHUNKS)(_chunker))
test_chunks_deep = slow(given(**_CHUNKS)(_chunker))


def _traced(f: Callable[[], Any]) -> tuple[Any, int]:
    """What ``f`` returns, and the peak of memory it allocated beyond what was allocated before."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        out = f()
        return out, tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def check_long_chunks(text: str, chunks: list[Any], size: int, overlap: int) -> None:
    """``check_chunks`` for texts of megabytes: ordered spans tile the text when each gap is whitespace."""
    assert [c.ord for c in chunks] == list(range(len(chunks)))
    assert text[:chunks[0].start_char].strip() == "" and text[chunks[-1].end_char:].strip() == ""
    for prev, c in zip([None, *chunks], chunks):
        assert text[c.start_char:c.end_char] == c.text and 0 < len(c.text) <= size and c.text == c.text.strip()
        if prev is not None:
            assert prev.start_char <= c.start_char and c.start_char >= prev.end_char - overlap
            assert text[prev.end_char:c.start_char].strip() == ""


HUGE_LINES = {
    "no_space": lambda: "x" * 5_000_000,
    "words": lambda: "word " * 200_000,
    "punctuation": lambda: "".join(random.Random(7).choices("abcdefghij.,;!?-é€", k=2_000_000)),
}


@pytest.mark.parametrize("kind", HUGE_LINES)
def test_a_huge_single_line_chunks_in_bounded_memory(kind: str) -> None:
    line = HUGE_LINES[kind]()
    size, overlap = 1200, 150
    chunks, peak = _traced(lambda: Chunker(ChunkConfig(size, overlap)).split(line))
    check_long_chunks(line, chunks, size, overlap)
    assert len(chunks) <= len(line) // (size - overlap) + 2
    # The chunks themselves hold the text once plus the overlaps; the old splitter made a list of one string
    # per character, 8 bytes a character before the strings themselves (and took minutes).
    assert peak < 3 * len(line) + 4 * _MB, peak


# -- size limit and streaming ---------------------------------------------------------------------------------------
def big_file(path: Path, mb: int, line: bytes = b"Marie Curie was born in Warsaw and moved to Paris.\n") -> Path:
    """A file of ``mb`` megabytes of text lines, written a megabyte at a time."""
    block = line * (_MB // len(line)) + b"x" * (_MB % len(line))
    with path.open("wb") as fh:
        for _ in range(mb):
            fh.write(block)
    return path


def test_a_file_over_the_size_limit_is_refused_without_reading_it(tmp_path: Path) -> None:
    p = big_file(tmp_path / "big.txt", 50)
    items, peak = _traced(lambda: list(load(p)))
    assert [type(i) for i in items] == [LoadError]
    assert items[0].where == str(p)
    assert items[0].reason == f"file too large: 50.0 MB is over the {MAX_FILE_MB} MB limit " \
                              f"(set {MAX_FILE_ENV} to raise it)"
    assert peak < _MB  # nothing of the 50 MB was read


def test_the_size_limit_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    small = write(tmp_path, "small.md", "# Small\n\n" + "Marie Curie. " * 50)  # about 650 bytes
    large = write(tmp_path, "large.md", "# Large\n\n" + "Marie Curie. " * 200)  # about 2.6 kB
    monkeypatch.setenv(MAX_FILE_ENV, "0.002")  # 2 kB
    assert isinstance(next(load(small)), Document)
    (e,) = load(large)
    assert isinstance(e, LoadError)
    assert e.reason == f"file too large: {large.stat().st_size:,} bytes is over the 0.002 MB limit " \
                       f"(set {MAX_FILE_ENV} to raise it)"
    for bad in ("abc", "0", "-1", "inf", "nan"):
        monkeypatch.setenv(MAX_FILE_ENV, bad)
        (e,) = load(small)
        assert isinstance(e, LoadError)
        assert e.reason == f"{MAX_FILE_ENV} must be a positive number of megabytes, not {bad!r}"


def test_jsonl_is_streamed_and_an_overlong_line_is_an_error_for_that_line(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MAX_FILE_ENV, "1")
    p = tmp_path / "corpus.jsonl"
    record = json.dumps({"text": "Marie Curie was born in Warsaw. " * 250}).encode() + b"\n"  # 8 kB a line
    with p.open("wb") as fh:
        fh.write(b'{"id": "first", "text": "First."}\n')
        fh.write(b'{"id": "huge", "text": "' + b"y" * (3 * _MB) + b'"}\n')  # one line over the 1 MB limit
        for _ in range(3):  # 24 MB in all, bigger than the limit many times over
            fh.write(record * 1000)
        fh.write(b'{"id": "last", "text": "Last."}')  # no newline at the end

    def count() -> tuple[int, list[LoadError], list[str]]:
        n, errors, ends = 0, [], []
        for item in load(p):
            if isinstance(item, LoadError):
                errors.append(item)
            else:
                n += 1
                if item.metadata["record_id"] in ("first", "last"):
                    ends.append(item.page_content)
        return n, errors, ends

    (n, errors, ends), peak = _traced(count)
    assert p.stat().st_size > 24 * _MB
    assert n == 3002 and ends == ["First.", "Last."]
    assert [(e.where, e.reason) for e in errors] == [
        (f"{p}:2", f"line too long: over the 1 MB limit (set {MAX_FILE_ENV} to raise it)")]
    assert peak < 3 * _MB  # a line at a time (at most the 1 MB limit of one), never the file or the huge line


# -- end to end: a folder of good and hostile files -----------------------------------------------------------------
GOOD_TEXT = {
    "notes.txt": "Lab Notes\n\nMarie Curie was born in Warsaw. Pierre Curie worked in Paris with Henri Becquerel.\n",
    "bohr.md": "# Niels Bohr\n\nNiels Bohr worked in Copenhagen with Ernest Rutherford.\n",
}


def make_hostile_folder(d: Path) -> dict[str, Any]:
    """Good and hostile files side by side: which documents must be stored, which errors reported."""
    for name, text in GOOD_TEXT.items():
        write(d, name, text)
    write(d, "deep.html", "<html><head><title>Lise Meitner</title><script>var leak = 'SECRETSCRIPT';</script>"
                          "</head><body>" + "<div><span>" * 20_000 + "Lise Meitner worked in Berlin with Otto Hahn."
                          "<noscript>SECRETSCRIPT</noscript><template>SECRETSCRIPT</template>"
                          + "</span></div>" * 20_000 + "<p>Second paragraph.<b>unclosed</body></html>")
    write(d, "stray_nul.txt", b"Otto Hahn worked in Berlin\x00 with Lise Meitner and Fritz Strassmann.\n")
    write(d, "one_line.txt", "ab" * 60_000)  # 120 kB without a space or a sentence end
    write(d, "corpus.jsonl", '{"id": "a", "text": "Paris is the capital of France."}\n'
                             '{"id": "b", "text": \n'
                             '["not", "an", "object"]\n'
                             '{"id": "c", "text": "Berlin is the capital of Germany.\\u0000"}\n')
    from pypdf import PdfWriter

    w = PdfWriter()
    w.add_blank_page(width=200, height=200)
    with (d / "scan.pdf").open("wb") as fh:
        w.write(fh)
    write(d, "zero.txt", b"")
    write(d, "blank.md", "  \n\n\t\n")
    write(d, "scripts_only.html", "<html><script>alert('SECRETSCRIPT')</script><style>p{}</style></html>")
    write(d, "image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8)
    write(d, "latin1.md", "Ernest Rutherford in Montréal.".encode("latin-1"))
    write(d, "utf16.txt", "Ernest Rutherford in Montreal.".encode("utf-16"))
    write(d, "fake.pdf", "plain text, not a PDF")
    write(d, "broken.jsonl", "{broken\n")
    big_file(d / "big.txt", 50)
    c = str(d / "corpus.jsonl")
    return {
        "documents": {str((d / n).resolve()) for n in ["notes.txt", "bohr.md", "deep.html", "stray_nul.txt",
                                                       "one_line.txt"]} | {f"{Path(c).resolve()}#{i}" for i in "ac"},
        "errors": {
            f"{c}:2": "malformed JSON", f"{c}:3": 'each line must be an object with a string "text"',
            str(d / "scan.pdf"): "PDF has no extractable text: no text layer (scanned PDF?",
            str(d / "zero.txt"): "empty document", str(d / "blank.md"): "empty document",
            str(d / "scripts_only.html"): "empty document",
            str(d / "image.txt"): "binary file (contains NUL bytes)",
            str(d / "latin1.md"): "not valid UTF-8 (byte 0xe9 at offset 26)",
            str(d / "utf16.txt"): "UTF-16 text, not UTF-8", str(d / "fake.pdf"): "unreadable PDF",
            str(d / "broken.jsonl") + ":1": "malformed JSON",
            str(d / "big.txt"): f"file too large: 50.0 MB is over the {MAX_FILE_MB} MB limit",
        },
        "bad_files": ["scan.pdf", "zero.txt", "blank.md", "scripts_only.html", "image.txt", "latin1.md", "utf16.txt",
                      "fake.pdf", "broken.jsonl", "big.txt"],
    }


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    d = tmp_path_factory.mktemp("hostile")
    return d, make_hostile_folder(d)


def check_store(db: Path, folder: Path, expected: dict[str, Any]) -> None:
    """The good documents stored whole, nothing of the bad files, and a consistent SQLite file."""
    assert {s for (s,) in rows(db, "SELECT source FROM documents")} == expected["documents"]
    for name in expected["bad_files"]:
        source = str((folder / name).resolve())
        assert rows(db, "SELECT count(*) FROM documents WHERE source = ? OR source LIKE ? || '#%'", (source, source)) \
            == [(0,)]
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]
    assert rows(db, "PRAGMA foreign_key_check") == []
    assert rows(db, "SELECT count(*) FROM chunks WHERE instr(text, char(0)) > 0 OR text LIKE '%SECRETSCRIPT%'") \
        == [(0,)]
    # Every chunk is its document's text at its offsets, so offsets agree with the stored length.
    assert rows(db, "SELECT count(*) FROM chunks WHERE length(text) != end_char - start_char OR length(text) > 1200 "
                    "OR end_char > (SELECT n_chars FROM documents d WHERE d.id = document_id)") == [(0,)]
    stray = rows(db, "SELECT c.text FROM chunks c JOIN documents d ON d.id = c.document_id WHERE d.source = ?",
                 (str((folder / "stray_nul.txt").resolve()),))
    assert stray == [("Otto Hahn worked in Berlin with Lise Meitner and Fritz Strassmann.",)]
    (deep,) = rows(db, "SELECT d.title, c.text FROM chunks c JOIN documents d ON d.id = c.document_id "
                       "WHERE d.source = ?", (str((folder / "deep.html").resolve()),))
    assert deep == ("Lise Meitner", "Lise Meitner worked in Berlin with Otto Hahn.\nSecond paragraph.unclosed")
    spans = rows(db, "SELECT c.start_char, c.end_char FROM chunks c JOIN documents d ON d.id = c.document_id "
                     "WHERE d.source = ? ORDER BY c.ord", (str((folder / "one_line.txt").resolve()),))
    # Windows of 1200 characters every 1050, the last one the first to reach the end.
    assert spans[0] == (0, 1200) and spans[-1][1] == 120_000 and spans[-2][1] < 120_000
    assert all(b - a == 1050 for (a, _), (b, _) in zip(spans, spans[1:]))


def test_ingest_stores_the_good_files_and_reports_each_bad_one_once(hostile: tuple[Path, dict[str, Any]],
                                                                    make_kg: Callable[..., KnowledgeGraph]) -> None:
    folder, expected = hostile
    kg = make_kg()
    report = kg.ingest([folder], index=False)
    got = {e.where: e.reason for e in report.errors}
    assert len(got) == len(report.errors), report.errors  # one error per bad file or line
    assert set(got) == set(expected["errors"]), report.errors
    for where, start in expected["errors"].items():
        assert got[where].startswith(start), (where, got[where])
    assert report.documents == len(expected["documents"])
    check_store(kg.path, folder, expected)
    before = snapshot(kg.path)
    # Again: the good files are unchanged and skipped, the bad ones fail the same way, and the store is untouched.
    again = kg.ingest([folder], index=False)
    assert again.documents == 0 and again.skipped == len(expected["documents"])
    assert {e.where: e.reason for e in again.errors} == got
    assert snapshot(kg.path) == before


def test_ingest_does_not_read_a_file_over_the_limit(tmp_path: Path, make_kg: Callable[..., KnowledgeGraph]) -> None:
    kg = make_kg()
    good = write(tmp_path, "good.txt", GOOD_TEXT["notes.txt"])
    kg.ingest([good], index=False)  # the spaCy model and the store are loaded before measuring
    _, base = _traced(lambda: kg.ingest([good], index=False))  # what an ingest allocates anyway
    big = big_file(tmp_path / "big.md", 50)
    report, peak = _traced(lambda: kg.ingest([big, good], index=False))
    assert [(e.where, e.reason.split(":")[0]) for e in report.errors] == [(str(big), "file too large")]
    assert report.skipped == 1 and rows(kg.path, "SELECT count(*) FROM documents") == [(1,)]
    assert peak < base + 2 * _MB, (peak, base)  # nothing of the 50 MB file was read


def test_cli_ingest_of_the_hostile_folder_exits_1_with_one_line_per_bad_file(
        hostile: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    folder, expected = hostile
    db = tmp_path / "kg.db"
    r = CliRunner().invoke(cli, ["ingest", str(folder), "--db", str(db), "-q"], env={"KG_DB": None},
                           prog_name="kg")
    assert r.exit_code == 1, (r.output, r.exception)
    assert isinstance(r.exception, SystemExit)  # the command ended itself; nothing escaped it
    assert "Traceback" not in r.output
    table = dict(tuple(c.strip() for c in line.strip("│").split("│")) for line in r.stdout.splitlines()
                 if line.startswith("│"))
    assert table["documents"] == str(len(expected["documents"]))
    assert table["failed"] == str(len(expected["errors"]))
    lines = [line for line in r.stderr.splitlines() if line.startswith("error ")]
    assert len(lines) == len(expected["errors"])
    for where, start in expected["errors"].items():
        assert sum(line.startswith(f"error {where}: {start}") for line in lines) == 1, (where, lines)
    check_store(db, folder, expected)
    again = CliRunner().invoke(cli, ["ingest", str(folder), "--db", str(db), "--json"], env={"KG_DB": None},
                               prog_name="kg")
    assert again.exit_code == 1 and "Traceback" not in again.output
    report = json.loads(again.stdout)
    assert report["documents"] == 0 and report["skipped"] == len(expected["documents"])
    assert {e["where"] for e in report["errors"]} == set(expected["errors"])


def test_utf8_bom_and_offsets_in_jsonl_count_from_the_file_start(tmp_path: Path) -> None:
    p = write(tmp_path, "bom.jsonl", codecs.BOM_UTF8 + b'{"text": "ok"}\n{"text": "caf\xe9"}\n')
    items = list(load(p))
    assert isinstance(items[0], Document) and items[0].page_content == "ok"
    assert isinstance(items[1], LoadError)
    assert (items[1].where, items[1].reason) == (f"{p}:2", "not valid UTF-8 (byte 0xe9 at offset 31)")
