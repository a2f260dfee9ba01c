"""A constructs corpus: every loader gets known sentences laid out with the constructs of its format.

Each visible sentence must arrive exactly once, no two blocks may run together on one line, code regions must be
exactly ``metadata["skip_spans"]``, and nothing from a script or style may appear. Then invisible Unicode format
characters, file-name titles, and pypdf's warnings.
"""

from __future__ import annotations

import html
import json
import logging
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest
from conftest import write
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.documents import Document

from kg.loaders import LoadError, clean, load

SECRET = "SECRETSCRIPT"


def one(path: Path) -> Document:
    items = list(load(path))
    assert len(items) == 1 and isinstance(items[0], Document), items
    return items[0]


def flat(text: str) -> str:
    return " ".join(text.split())


def check(doc: Document, blocks: list[list[str]], code: Sequence[str] = ()) -> None:
    """Each string of ``blocks`` once, in order; a line break between blocks; ``code`` exactly the skip spans."""
    text = doc.page_content
    assert SECRET not in text and "color:" not in text and "alert(" not in text, text
    body = flat(text)
    strings = [s for block in blocks for s in block]
    for s in strings:
        assert body.count(flat(s)) == 1, (s, text)
    spans = doc.metadata.get("skip_spans", [])
    assert [text[a:b] for a, b in spans] == list(code), (spans, text)
    # Blocks in order, each block's last string separated from the next block's first by a line break.
    pos = 0
    for prev, block in zip([None, *blocks], blocks):
        for s in block:
            found = _find(text, s, pos)
            assert found is not None, (s, text[pos:])
            start, end = found
            if prev is not None and s == block[0]:
                assert "\n" in text[pos:start], f"{prev[-1]!r} runs into {s!r}: {text[pos:start]!r}"
            pos = end


def _find(text: str, s: str, pos: int) -> tuple[int, int] | None:
    """Where ``s`` occurs in ``text`` from ``pos``, any whitespace in it matching any whitespace."""
    m = re.compile(r"\s+".join(map(re.escape, s.split()))).search(text, pos)
    return (m.start(), m.end()) if m else None


# -- plain text and jsonl ---------------------------------------------------------------------------------------
TXT_BLOCKS = [["Marie Curie was born in Warsaw."], ["She studied physics in Paris.", "Pierre Curie met her in 1894."],
              ["- Radium was discovered in 1898."], ["- Polonium was named after Poland."],
              ["Ernest Rutherford worked in Manchester."]]


def test_txt_constructs(tmp_path: Path) -> None:
    text = ("Early Nuclear Physics\n\nMarie Curie was born in Warsaw.\n\nShe studied physics in Paris. Pierre Curie "
            "met her in 1894.\n- Radium was discovered in 1898.\r\n- Polonium was named after Poland.\n\n\n"
            "   Ernest Rutherford worked in Manchester.   \n")
    doc = one(write(tmp_path, "physics.txt", text))
    assert doc.metadata["title"] == "Early Nuclear Physics"
    check(doc, TXT_BLOCKS)
    assert "skip_spans" not in doc.metadata and "warnings" not in doc.metadata


def test_jsonl_constructs(tmp_path: Path) -> None:
    records = [{"id": "a", "title": "Curie", "text": "Marie Curie was born in Warsaw.\n\nShe studied physics in "
                                                      "Paris. Pierre Curie met her in 1894.\n- Radium was discovered "
                                                      "in 1898.\n- Polonium was named after Poland.\n"
                                                      "Ernest Rutherford worked in Manchester."},
               {"id": "b", "text": "Niels Bohr visited him in 1912.", "metadata": {"skip_spans": [[0, 5]]}}]
    items = list(load(write(tmp_path, "recs.jsonl", "\n".join(json.dumps(r) for r in records))))
    docs = [d for d in items if isinstance(d, Document)]
    assert len(docs) == len(items) == 2, items
    check(docs[0], TXT_BLOCKS)
    # A record's own metadata can never mark text for NER to skip: it is kept under user_*.
    assert "skip_spans" not in docs[1].metadata and docs[1].metadata["user_skip_spans"] == [[0, 5]]


# -- markdown ---------------------------------------------------------------------------------------------------
MD = """# Early *Nuclear* Physics

Marie Curie was born in Warsaw.
She studied physics in Paris.

<div class="note">
Pierre Curie met her in 1894.
<p>Radium was discovered in 1898.</p>
</div>

<details><summary>Polonium was named after Poland.</summary>

Ernest Rutherford worked in Manchester.

</details>

Niels Bohr visited him in 1912.<br>Lise Meitner lived in Berlin.

| Scientist | Language |
|-----------|----------|
| Grace Hopper | COBOL |
| John Backus | FORTRAN |

- Otto Hahn split the atom in 1938.
  - Fritz Strassmann worked with him.
    1. Enrico Fermi built a reactor in Chicago.
- Irene Joliot-Curie won a Nobel Prize in 1935.

> Paul Langevin taught at the ESPCI.
> > Henri Becquerel found radioactivity in 1896.

```python
def half_life(n):
    return n / 2
```

Albert Einstein moved to Princeton.[^ein]

    SELECT name FROM scientists;

<x-note>Max Planck lived in Berlin.</x-note>

## Frédéric Joliot-Curie led the CNRS.

Ida Noddack proposed fission in 1934 ![a diagram of SECRETSCRIPT](d.png) and [James Chadwick](http://x) found
the neutron. **Hans Geiger** built *a counter*\\
in Manchester. Chien-Shiung Wu worked at `Columbia`.

<script>var SECRETSCRIPT = "x";</script>
<style>p { color: red }</style>

[^ein]: Einstein wrote to Roosevelt in 1939.
"""
MD_BLOCKS = [
    ["Marie Curie was born in Warsaw. She studied physics in Paris."], ["Pierre Curie met her in 1894."],
    ["Radium was discovered in 1898."], ["Polonium was named after Poland."],
    ["Ernest Rutherford worked in Manchester."],
    ["Niels Bohr visited him in 1912."], ["Lise Meitner lived in Berlin."], ["Scientist"], ["Language"],
    ["Grace Hopper"], ["COBOL"], ["John Backus"], ["FORTRAN"], ["Otto Hahn split the atom in 1938."],
    ["Fritz Strassmann worked with him."], ["Enrico Fermi built a reactor in Chicago."],
    ["Irene Joliot-Curie won a Nobel Prize in 1935."], ["Paul Langevin taught at the ESPCI."],
    ["Henri Becquerel found radioactivity in 1896."], ["def half_life(n):\n    return n / 2"],
    ["Albert Einstein moved to Princeton."], ["SELECT name FROM scientists;"], ["Max Planck lived in Berlin."],
    ["Frédéric Joliot-Curie led the CNRS."],
    ["Ida Noddack proposed fission in 1934", "and James Chadwick found the neutron.",
     "Hans Geiger built a counter"], ["in Manchester. Chien-Shiung Wu worked at Columbia."],
    ["Einstein wrote to Roosevelt in 1939."],
]


def test_markdown_constructs(tmp_path: Path) -> None:
    doc = one(write(tmp_path, "physics.md", MD))
    assert doc.metadata["title"] == "Early Nuclear Physics" and doc.metadata["title_explicit"] is True
    check(doc, MD_BLOCKS, code=["def half_life(n):\n    return n / 2", "SELECT name FROM scientists;"])
    text = doc.page_content
    assert "Early Nuclear Physics" not in text  # the title, not body text
    assert "\n\nGrace Hopper\n\nCOBOL\n\n" in text  # table cells never make one name
    assert "[1]" not in text and "↩" not in text and "diagram" not in text  # footnote marks; image alt text
    assert "Cambridge.\nEnrico Fermi" in one(write(tmp_path, "br.md", "Cambridge.<br>Enrico Fermi")).page_content


def test_markdown_code_only_and_code_first(tmp_path: Path) -> None:
    doc = one(write(tmp_path, "code.md", "    indented first\n\nThen prose.\n\n~~~\nlast\n~~~\n"))
    assert doc.page_content == "indented first\n\nThen prose.\n\nlast"
    assert doc.metadata["skip_spans"] == [[0, 14], [29, 33]]
    doc = one(write(tmp_path, "html_pre.md", "Prose first.\n\n<pre>\n  <b>kept</b> indent\n</pre>\n"))
    (a, b), = doc.metadata["skip_spans"]
    assert doc.page_content[a:b] == "  kept indent"


# -- html -------------------------------------------------------------------------------------------------------
HTML = """<!DOCTYPE html><html><head><title>Early Nuclear Physics</title>
<style>body { color: red } /* SECRETSCRIPT */</style><script>alert("SECRETSCRIPT")</script></head><body>
<h1>Early Nuclear Physics</h1>
<div>Marie Curie was born in <b>Warsaw</b>.<div>She studied <i>physics</i> in <a href="#">Paris</a>.</div></div>
<p>Pierre Curie met her in 1894.<br>Radium was discovered in 1898.</p>
<table><tr><th>Scientist</th><th>Language</th></tr><tr><td>Grace Hopper</td><td>COBOL</td></tr></table>
<ul><li>Polonium was named after Poland.<ol><li>Ernest Rutherford worked in Manchester.</li></ol></li></ul>
<pre><code>def half_life(n):
    return n / 2
</code></pre>
<p>Niels Bohr used <code>inline code</code> in 1912.</p>
<noscript>SECRETSCRIPT</noscript><template><p>SECRETSCRIPT</p></template>
<pre>SELECT name
  FROM scientists;</pre><section>Lise Meitner lived in Berlin.</section>
</body></html>"""
HTML_BLOCKS = [["Early Nuclear Physics"], ["Marie Curie was born in Warsaw."], ["She studied physics in Paris."],
               ["Pierre Curie met her in 1894."], ["Radium was discovered in 1898."], ["Scientist"], ["Language"],
               ["Grace Hopper"], ["COBOL"], ["Polonium was named after Poland."],
               ["Ernest Rutherford worked in Manchester."], ["def half_life(n):\n    return n / 2"],
               ["Niels Bohr used inline code in 1912."], ["SELECT name\n  FROM scientists;"],
               ["Lise Meitner lived in Berlin."]]


def test_html_constructs(tmp_path: Path) -> None:
    doc = one(write(tmp_path, "physics.html", HTML))
    assert doc.metadata["title"] == "Early Nuclear Physics"
    check(doc, HTML_BLOCKS, code=["def half_life(n):\n    return n / 2", "SELECT name\n  FROM scientists;"])
    assert "\nGrace Hopper\nCOBOL\n" in doc.page_content  # each table cell its own line


def test_html_pre_spans_survive_stripping_entities_and_odd_nesting(tmp_path: Path) -> None:
    markup = "<pre>\n\n   x = 1 &amp;&#x200b; y\n\n\n   z\t\n</pre><p>Prose.</p><pre><pre>a</pre>b</pre><pre>  \n</pre>"
    doc = one(write(tmp_path, "pre.html", markup))
    text = doc.page_content
    assert text == "x = 1 & y\n\n\n   z\nProse.\na\nb"
    assert [text[a:b] for a, b in doc.metadata["skip_spans"]] == ["x = 1 & y\n\n\n   z", "a\nb"]
    doc = one(write(tmp_path, "open.html", "<p>Prose.</p><pre>left open"))
    assert doc.metadata["skip_spans"] == [[7, 16]]


_WORDS = st.lists(st.text("abcXYZ", min_size=1, max_size=6), min_size=1, max_size=5).map(" ".join)
_CODE = st.lists(st.text("ab Z\t.&;\u200b", max_size=12), min_size=1, max_size=5).map("\n".join)


@st.composite
def blocks_with_code(draw: st.DrawFn) -> list[tuple[str, str]]:
    """Paragraphs and code blocks in a random order: ("p" or "code", content)."""
    block = st.one_of(st.tuples(st.just("p"), _WORDS), st.tuples(st.just("code"), _CODE))
    return draw(st.lists(block, min_size=1, max_size=8))


def _spans_match(items: list[Document | LoadError], blocks: list[tuple[str, str]]) -> None:
    expected = [flat(clean(c)) for kind, c in blocks if kind == "code" and flat(clean(c))]
    (doc,) = items
    if isinstance(doc, LoadError):
        assert not expected and doc.reason.startswith("empty document"), items
        return
    text, spans = doc.page_content, doc.metadata.get("skip_spans", [])
    assert all(0 <= a < b <= len(text) for a, b in spans) and spans == sorted(spans)
    assert all(b < c for (_, b), (c, _) in zip(spans, spans[1:]))
    assert [flat(text[a:b]) for a, b in spans] == expected
    assert all(text[a:b] == text[a:b].strip("\n").rstrip() for a, b in spans)


@given(blocks_with_code())
@settings(max_examples=60, deadline=None, database=None)
def test_skip_spans_are_the_code_blocks_of_any_markdown(blocks: list[tuple[str, str]]) -> None:
    md = "\n\n".join(f"~~~\n{c}\n~~~" if kind == "code" else c for kind, c in blocks)
    with tempfile.TemporaryDirectory() as d:
        _spans_match(list(load(write(Path(d), "fuzz.md", md))), blocks)


@given(blocks_with_code())
@settings(max_examples=60, deadline=None, database=None)
def test_skip_spans_are_the_pre_blocks_of_any_html(blocks: list[tuple[str, str]]) -> None:
    markup = "".join(f"<pre>{html.escape(c)}</pre>" if kind == "code" else f"<div>{c}" for kind, c in blocks)
    with tempfile.TemporaryDirectory() as d:
        _spans_match(list(load(write(Path(d), "fuzz.html", markup))), blocks)


# -- pdf --------------------------------------------------------------------------------------------------------
def pdf_bytes(runs: list[tuple[int, int, int, str]], shift: int = 0) -> bytes:
    """A one-page PDF drawing each (x, y, font size, text) in Helvetica, in order; ``shift`` breaks the xref."""
    def esc(t: str) -> str:
        return t.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    content = "".join(f"BT /F1 {s} Tf {x} {y} Td ({esc(t)}) Tj ET\n" for x, y, s, t in runs).encode("latin-1")
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for i, obj in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % (o + shift) for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref + shift)
    return bytes(out)


HEADING = "Early Nuclear Physics"
LEFT = ["Marie Curie was born in", "Warsaw in 1867. She studied", "physics in Paris.", "Pierre Curie met her in",
        "1894 at the Sorbonne."]
RIGHT = ["Ernest Rutherford worked", "in Manchester. Niels Bohr", "visited him in 1912.", "Lise Meitner lived in",
         "Berlin for thirty years."]
PDF_BLOCKS = [[HEADING], ["Marie Curie was born in Warsaw in 1867.", "She studied physics in Paris.",
                          "Pierre Curie met her in 1894 at the Sorbonne.", "Ernest Rutherford worked in Manchester.",
                          "Niels Bohr visited him in 1912.", "Lise Meitner lived in Berlin for thirty years."]]


def two_columns() -> list[tuple[int, int, int, str]]:
    """A heading over two columns, drawn column after column as typesetters do."""
    return [(72, 740, 18, HEADING), *[(72, 700 - 14 * i, 11, t) for i, t in enumerate(LEFT)],
            *[(320, 700 - 14 * i, 11, t) for i, t in enumerate(RIGHT)]]


def test_pdf_heading_and_two_columns_give_each_sentence_once(tmp_path: Path) -> None:
    doc = one(write(tmp_path, "columns.pdf", pdf_bytes(two_columns())))
    check(doc, PDF_BLOCKS)
    assert doc.page_content.split("\n")[0] == HEADING
    assert "warnings" not in doc.metadata and "skip_spans" not in doc.metadata


def test_pdf_warnings_go_to_metadata_not_stderr(tmp_path: Path, capfd: pytest.CaptureFixture[str],
                                                caplog: pytest.LogCaptureFixture) -> None:
    broken = write(tmp_path, "broken.pdf", pdf_bytes(two_columns(), shift=7))  # every xref offset off by 7
    with caplog.at_level(logging.DEBUG):
        doc = one(broken)
    check(doc, PDF_BLOCKS)
    assert any("startxref" in w for w in doc.metadata["warnings"]), doc.metadata
    assert len(doc.metadata["warnings"]) == len(set(doc.metadata["warnings"]))
    assert capfd.readouterr().err == ""
    assert not [r for r in caplog.records if r.name.startswith("pypdf")]
    assert not logging.getLogger("pypdf").handlers and logging.getLogger("pypdf").propagate  # all put back


# -- invisible format characters, titles ------------------------------------------------------------------------
@pytest.mark.parametrize("raw, expected", [
    ("Barack\u200bObama was born in Hawaii.", "Barack Obama was born in Hawaii."),
    ("Ba\u200brack Obama", "Barack Obama"),  # inside a word of a cased script: removed
    ("Be\u0301\u200brack", "Be\u0301rack"),  # a combining mark belongs to its letter
    ("Hawaii.\u200bObama", "Hawaii. Obama"), ("1961\u200b2009", "1961 2009"),  # next to a non-letter
    ("Obama \u200b\u200bwas", "Obama was"), ("\u200bObama\u200b", "Obama"),
    ("สวัสดี\u200bครับ", "สวัสดี ครับ"), ("東京\u200b大阪", "東京 大阪"),  # uncased scripts: a word boundary
    ("Bar\u200cack Ob\u200dama", "Barack Obama"),  # ZWNJ and ZWJ between Latin letters
    ("می\u200cخواهم", "می\u200cخواهم"), ("क्\u200dष", "क्\u200dष"), ("👩\u200d👩\u200d👧", "👩\u200d👩\u200d👧"),  # kept
    ("\u202eamabO kcaraB\u202c", "amabO kcaraB"),
    ("a\u2066b\u2069c\u200ed\u200fe\u061cf\u202a\u202b\u202dg", "abcdefg"),
    ("Ba\u00adrack O\u2060ba\ufeffma", "Barack Obama"),
])
def test_format_characters(raw: str, expected: str) -> None:
    assert clean(raw) == expected


@pytest.mark.parametrize("name", ["bidi.txt", "bidi.md", "bidi.html", "bidi.jsonl"])
def test_format_characters_are_cleaned_in_every_loader_and_title(tmp_path: Path, name: str) -> None:
    title, body = "Ob\u00adama\u200bBio\u202e", "Barack\u200bObama was born in Hawaii.\u2066"
    data = {"bidi.txt": f"{title}\n\n{body}", "bidi.md": f"# {title}\n\n{body}",
            "bidi.html": f"<title>{title}</title><p>Barack&#x200b;Obama was born in Hawaii.&#x2066;</p>",
            "bidi.jsonl": json.dumps({"title": title, "text": body})}[name]
    doc = one(write(tmp_path, name, data))
    assert doc.page_content == "Barack Obama was born in Hawaii."
    assert doc.metadata["title"] == "Obama Bio"


@given(st.text(st.sampled_from("aZé\u0301 .\n\u200b\u200c\u200d\u202e\u00ad\ufeffخ\u0e2a\u0e35👩\r\x00")))
@settings(max_examples=300, deadline=None, database=None)
def test_clean_is_idempotent(text: str) -> None:
    # Loaders clean pieces and then the whole text; offsets (skip_spans, chunks) hold only if cleaning is stable.
    once = clean(text)
    assert clean(once) == once
    assert not re.search("[\u200b\u202e\u00ad\ufeff\x00\r]", once)


def test_a_title_from_a_file_name_has_no_control_characters(tmp_path: Path) -> None:
    doc = one(write(tmp_path, "\x1b]0;HACKED\x07\u202e\x9b31m_\tnotes.txt", "Some text."))
    assert doc.metadata["title"] == "]0;HACKED31m notes"
    assert not re.search("[\x00-\x1f\x7f-\x9f\u202e]", doc.metadata["title"])
    assert one(write(tmp_path, "\x1b\x07.md", "Text.")).metadata["title"] == ".md"


def test_empty_after_cleaning_is_still_an_error(tmp_path: Path) -> None:
    (e,) = load(write(tmp_path, "invisible.txt", "\u200b\u202e\u00ad\ufeff\u2060"))
    assert isinstance(e, LoadError) and e.reason == "empty document (no text after parsing)"
