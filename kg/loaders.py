"""File loaders: txt, md, html, pdf and jsonl become LangChain ``Document``s, or a one-line reason why not.

Each loader is a LangChain ``BaseLoader``, so it also works in any LangChain pipeline. The metadata carries
``source`` (the document's identity in the store), ``title`` and ``title_explicit`` (whether the title came
from the file's content rather than its name), ``path``, and when there are any ``skip_spans`` (``[start, end]``
offsets in ``page_content`` of code blocks, which stay searchable text but are not run through NER) and
``warnings`` (the parser's, e.g. pypdf's, which never reach stderr).

Hostile files end as a ``LoadError`` for that file (or that jsonl line), never as an exception or a partial
document:

- A file over the size limit (``MAX_FILE_MB``, or ``$KG_MAX_FILE_MB``) is refused from its ``stat`` before a
  byte is read. A jsonl file is read line by line instead, so it may be any size; one line over the limit is
  an error for that line.
- A file whose first 8 KB hold several NUL or other control bytes is binary. A few stray ones in text are
  dropped, as are all control characters but tab and line breaks: SQLite, spaCy and XML exports never see one.
- Text must be UTF-8. A file with an invalid byte is refused naming it and its offset, rather than stored with
  replacement characters (a Latin-1 file would otherwise become mojibake in the store).
- Invisible format characters are removed (bidi controls, soft hyphens, word joiners) or, for a zero-width
  space between two words, made a space, so no name hides or splits in the store.
- HTML is read by a small tokenizer, linear in the input and without recursion, so any nesting depth or
  unclosed markup parses; script, style, noscript and template content never reaches the text. Markdown is
  rendered to HTML and read by the same reader.
- A folder is walked without leaving it by a link and without opening anything but regular files: links out,
  FIFOs, sockets and devices are ``LoadWarning``s, reported without failing the ingest.
"""

from __future__ import annotations

import codecs
import html
import json
import logging
import math
import os
import re
import stat
import unicodedata
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from langchain_core.document_loaders import BaseLoader
from langchain_core.documents import Document

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".jsonl")
MAX_FILE_MB = 32  # per file (per line in jsonl); $KG_MAX_FILE_MB overrides it
MAX_FILE_ENV = "KG_MAX_FILE_MB"
_MB = 1 << 20
_SNIFF = 8192
# Bytes that text never holds: C0 controls other than tab, LF, VT, FF, CR and escape.
_BINARY_BYTES = bytes([*range(0x00, 0x09), *range(0x0E, 0x1B), *range(0x1C, 0x20)])
_BREAKS = re.compile("\r\n?|[\x0b\x0c]")
_CONTROLS = re.compile("[\x00-\x08\x0e-\x1f\ufffe\uffff]")
_SURROGATES = re.compile("[\ud800-\udfff]")  # only JSON escapes ("\ud800") or odd file names produce these
# Invisible format characters that only hide or reorder text: bidi embeddings, overrides, isolates and marks,
# the word joiner, a BOM inside text and the soft hyphen.
_FORMAT = re.compile("[\u00ad\u061c\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]")
_ZERO_WIDTH = re.compile("[\u200b-\u200d]+")
_C1 = re.compile("[\x7f-\x9f]")
_UNCLEAN = re.compile("[\x00-\x08\x0b-\x1f\ufffe\uffff\ud800-\udfff\u00ad\u061c\u200b-\u200f\u202a-\u202e\u2060"
                      "\u2066-\u2069\ufeff]")  # any character that clean() changes
_META_DEPTH = 32


class LoadError(Exception):
    """A file, or one record in it, that cannot become a document; ``str()`` is the one-line reason."""

    def __init__(self, where: str, reason: str):
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


class LoadWarning(LoadError):
    """A file left out, or read with a caveat, that does not fail the ingest (a link out of the folder, a
    device or pipe inside it, a parser's warning); reported beside the errors."""


def clean(text: str) -> str:
    """Line breaks as ``\\n``; no NUL or other control character but tab, no lone surrogate, and no invisible
    format character that would hide or split a name (bidi controls, soft hyphens, zero-width spaces)."""
    if not _UNCLEAN.search(text):
        return text
    text = _SURROGATES.sub("\ufffd", _CONTROLS.sub("", _BREAKS.sub("\n", text)))
    return _ZERO_WIDTH.sub(_zero_width, _FORMAT.sub("", text))


def _before(text: str, i: int) -> str:
    """The character before index ``i``, stepping back over combining marks to the letter they sit on."""
    while i > 0 and unicodedata.category(text[i - 1])[0] == "M":
        i -= 1
    return text[i - 1] if i > 0 else ""


def _letter(c: str) -> bool:
    return unicodedata.category(c)[0] in "LM"


def _latin(c: str) -> bool:
    return c.isalpha() and unicodedata.name(c, "").startswith("LATIN ")


def _zero_width(m: re.Match[str]) -> str:
    """A run of ZWSP, ZWNJ and ZWJ by its neighbours: a space between two words, nothing inside a word of a
    cased script; ZWNJ and ZWJ alone are kept unless between Latin letters (they shape Persian, Indic, emoji)."""
    text, run = m.string, m.group()
    a, b = _before(text, m.start()), text[m.end():m.end() + 1]
    if "\u200b" not in run:
        return "" if _latin(a) and _latin(b) else run
    if not a or not b or a.isspace() or b.isspace():
        return ""
    if not (_letter(a) and _letter(b)):
        return " "
    inside_word = a.lower() != a.upper() and b.lower() != b.upper() and not (a.islower() and b.isupper())
    return "" if inside_word else " "  # uncased scripts (Thai, CJK...) mark word boundaries with it


def max_file_bytes() -> int:
    """The size limit in bytes: ``$KG_MAX_FILE_MB`` megabytes if set, else ``MAX_FILE_MB``."""
    raw = os.environ.get(MAX_FILE_ENV, "").strip()
    if not raw:
        return MAX_FILE_MB * _MB
    try:
        mb = float(raw)
    except ValueError:
        mb = math.nan
    if not (mb > 0 and math.isfinite(mb)):
        raise ValueError(f"{MAX_FILE_ENV} must be a positive number of megabytes, not {raw!r}")
    return max(1, int(mb * _MB))


def _limit(where: str) -> int:
    try:
        return max_file_bytes()
    except ValueError as e:
        raise LoadError(where, str(e)) from None


def _over_limit(what: str, limit: int) -> str:
    return f"{what} over the {round(limit / _MB, 3):g} MB limit (set {MAX_FILE_ENV} to raise it)"


def _size(n: int) -> str:
    return f"{n / _MB:.1f} MB" if n >= _MB else f"{n:,} bytes"


def _open(path: Path, limit: int | None) -> IO[bytes]:
    """The file opened for reading, after its stat says it is a regular file within ``limit`` bytes."""
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            raise LoadError(str(path), "not a regular file")
        if limit is not None and st.st_size > limit:
            raise LoadError(str(path), _over_limit(f"file too large: {_size(st.st_size)} is", limit))
        return path.open("rb")
    except OSError as e:
        raise LoadError(str(path), f"cannot read file ({e.strerror or e})") from None


def _binary(head: bytes) -> str | None:
    """Why the first bytes of a file say it is not text, or None."""
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "UTF-32 text, not UTF-8 (convert it, e.g. iconv -f UTF-32 -t UTF-8)"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "UTF-16 text, not UTF-8 (convert it, e.g. iconv -f UTF-16 -t UTF-8)"
    odd = len(head) - len(head.translate(None, _BINARY_BYTES))
    if odd <= max(1, len(head) // 32):  # a stray control byte in text is dropped, not fatal
        return None
    return "binary file (contains NUL bytes), not text" if 0 in head else "binary file (control bytes), not text"


def _decode(data: bytes | memoryview, where: str, offset: int = 0) -> str:
    """Strict UTF-8, or a LoadError naming the first bad byte by its offset in the file."""
    try:
        return str(data, "utf-8")
    except UnicodeDecodeError as e:
        raise LoadError(where, f"not valid UTF-8 (byte 0x{data[e.start]:02x} at offset {offset + e.start})") from None


def read_text(path: Path) -> str:
    """The file as clean UTF-8 text, refusing large, binary and undecodable files with a clear reason."""
    limit = _limit(str(path))
    with _open(path, limit) as fh:
        try:
            data = fh.read(limit + 1)
        except OSError as e:
            raise LoadError(str(path), f"cannot read file ({e.strerror or e})") from None
    if len(data) > limit:  # it grew since the stat
        raise LoadError(str(path), _over_limit("file too large:", limit))
    reason = _binary(data[:_SNIFF])
    if reason:
        raise LoadError(str(path), reason)
    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    return clean(_decode(memoryview(data)[bom:], str(path), bom))


def _one_line(text: str) -> str:
    """``text`` cleaned to one printable line: no control character at all, C1 and tab included."""
    return _WS.sub(" ", _C1.sub("", clean(text))).strip()


def _title_from_name(path: Path) -> str:
    """A title from the file name; a name may hold anything but "/", terminal escapes included."""
    return _one_line(path.stem.replace("_", " ").replace("-", " ")) or _one_line(path.name)


_OURS = ("source", "title", "title_explicit", "path", "skip_spans", "warnings")  # the loaders' metadata keys


def _doc(path: Path, text: str, title: str | None, source: str | None = None, meta: dict | None = None,
         spans: list[list[int]] | None = None, notes: list[str] | None = None) -> Document:
    """The document, its text cleaned and stripped; ``spans`` (code in ``text``) follow the strip."""
    text = clean(text)
    lead = len(text) - len(text.lstrip())
    text = text.strip()
    if not text:
        raise LoadError(source or str(path), "empty document (no text after parsing)")
    title = _one_line(title) if title else None
    metadata: dict[str, Any] = {"source": source or str(path.resolve()), "title": title or _title_from_name(path),
                                "title_explicit": bool(title), "path": str(path)}
    skip = [[max(a - lead, 0), min(b - lead, len(text))] for a, b in spans or []]
    if skip := [[a, b] for a, b in skip if a < b]:
        metadata["skip_spans"] = skip
    if notes:
        metadata["warnings"] = notes
    for k, v in (meta or {}).items():  # the file's own metadata never overrides ours
        metadata[f"user_{k}" if k in metadata or k in _OURS else k] = v
    return Document(page_content=text, metadata=metadata)


class TextFileLoader(BaseLoader):
    """Plain text; a short first line followed by a blank line is the title."""

    def __init__(self, path: Path):
        self.path = path

    def lazy_load(self) -> Iterator[Document]:
        text = read_text(self.path)
        lines = text.lstrip("\n").split("\n", 2)
        title = None
        if len(lines) >= 3 and lines[1].strip() == "" and 0 < len(lines[0].strip()) <= 120 \
                and lines[0].strip()[-1] not in ".;,:":
            title, text = lines[0].strip(), lines[2]
        yield _doc(self.path, text, title)


_WS = re.compile(r"[ \t\n\r\f\v]+")
_HTML_BLOCKS = frozenset([
    "address", "article", "aside", "blockquote", "br", "caption", "dd", "details", "dialog", "div", "dl", "dt",
    "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li",
    "main", "nav", "ol", "p", "pre", "section", "summary", "table", "tbody", "td", "tfoot", "th", "thead", "tr",
    "ul"])
_RAW_TEXT = frozenset(["script", "style", "iframe", "noembed", "noframes"])  # content is never markup or shown
_HIDDEN = frozenset(["noscript", "template"])  # content is markup, but not shown
_TEXT, _CDATA, _START, _END = range(4)
_MARKUP = re.compile("<[a-zA-Z!/?]")  # any other "<" is text
_TAG_NAME = re.compile(r"[a-zA-Z][^\t\n\f\r />]*")
_TAG_STOP = re.compile("[>\"']")


@cache
def _closing(name: str) -> re.Pattern[str]:
    return re.compile(rf"</{re.escape(name)}[\t\n\f\r />]", re.IGNORECASE)


def _tag_end(markup: str, i: int) -> int:
    """The index after the ``>`` that ends the tag whose attributes start at ``i``, or -1 at end of input."""
    while True:
        m = _TAG_STOP.search(markup, i)
        if m is None:
            return -1
        j = m.start()
        if markup[j] == ">":
            return j + 1
        k = j - 1  # a quote opens a value only after "=", else it is part of an attribute name
        while k >= i and markup[k] in " \t\n\f\r":
            k -= 1
        if k >= i and markup[k] == "=":
            close = markup.find(markup[j], j + 1)
            if close < 0:
                return -1
            i = close + 1
        else:
            i = j + 1


def _html_events(markup: str) -> Iterator[tuple[int, str]]:
    """Text, CDATA, start and end tags in order, tokenized as HTML5 does in outline.

    Every step moves past everything it scanned, so time is linear in the input whatever the markup; a tag,
    comment or raw-text element left open at the end of the input ends it, as in a browser.
    """
    pos, n = 0, len(markup)
    title_closes = True  # false once a search found no </title> after some point
    while pos < n:
        found = _MARKUP.search(markup, pos)
        if found is None:
            yield _TEXT, markup[pos:]
            return
        lt = found.start()
        if lt > pos:
            yield _TEXT, markup[pos:lt]
        c = markup[lt + 1]
        if c.isalpha():
            m = _TAG_NAME.match(markup, lt + 1)
            assert m is not None
            pos = _tag_end(markup, m.end())
            if pos < 0:
                return
            name = m.group().lower()
            if name == "title":  # its text is plain text up to </title>; without one, the tag is ignored
                end_tag = _closing(name).search(markup, pos) if title_closes else None
                title_closes = end_tag is not None
                if end_tag is not None:
                    yield _START, name
                    yield _TEXT, markup[pos:end_tag.start()]
                    yield _END, name
                    pos = _tag_end(markup, end_tag.end() - 1)
                    if pos < 0:
                        return
                continue
            yield _START, name
            if name in _RAW_TEXT:
                end_tag = _closing(name).search(markup, pos)
                if end_tag is None:
                    return
                yield _END, name
                pos = _tag_end(markup, end_tag.end() - 1)
                if pos < 0:
                    return
        elif c == "/" and (m := _TAG_NAME.match(markup, lt + 2)):
            pos = _tag_end(markup, m.end())
            if pos < 0:
                return
            yield _END, m.group().lower()
        elif markup.startswith("<!--", lt):
            if markup.startswith((">", "->"), lt + 4):  # <!--> and <!---> are empty comments
                pos = markup.index(">", lt + 4) + 1
                continue
            close = markup.find("-->", lt + 4)
            if close < 0:
                return
            pos = close + 3
        elif markup.startswith("<![CDATA[", lt):
            close = markup.find("]]>", lt + 9)
            if close < 0:
                return
            yield _CDATA, markup[lt + 9:close]
            pos = close + 3
        else:  # doctype, processing instruction or a bogus comment: up to the next ">"
            close = markup.find(">", lt + 2)
            if close < 0:
                return
            pos = close + 1


def _joined(pieces: list[str]) -> str:
    return _WS.sub(" ", " ".join(p.strip() for p in pieces if p.strip()))


# Lines the reader puts between pieces of text and reads back at the end: a block boundary, the start and the
# end of a <pre>. Their characters never reach it (``clean`` text has none, and it drops them from the input).
_BLOCK, _PRE, _END_PRE = "\n\x1e\n", "\n\x02\n", "\n\x03\n"
_MARKERS = str.maketrans("", "", "\x1e\x02\x03")


def html_text(markup: str) -> tuple[str | None, str]:
    """The title (first <title>, else first <h1>) and the visible text of an HTML page.

    Whitespace collapses as a browser does: only block elements and <br> break lines (inside <pre> line breaks
    stay), so inline markup (<b>, <a>, <em>...) never splits a sentence or a name across lines.
    """
    title, text, _ = _html(markup)
    return title, text


def _html(markup: str, block_sep: str = "\n") -> tuple[str | None, str, list[list[int]]]:
    """``html_text``, with ``block_sep`` between blocks, plus the [start, end) spans of <pre> blocks in the text."""
    done: list[str] = []  # text joined so far, and the pieces not joined yet
    parts: list[str] = []
    title: list[str] = []  # the text of the first <title>, and of the first <h1>
    h1: list[str] = []
    seen_title = seen_h1 = in_title = False
    hidden = pre = in_h1 = 0  # depths: inside hidden content, <pre>, and the first <h1>
    for kind, value in _html_events(markup):
        if kind == _START:
            if value in _HIDDEN:
                hidden += 1
            if hidden:
                continue
            if value == "title" and not seen_title:
                seen_title = in_title = True
            elif value == "h1" and (in_h1 or not seen_h1):
                seen_h1, in_h1 = True, in_h1 + 1
            if value in _HTML_BLOCKS:
                _break(parts, value)
            if value == "pre":
                pre += 1
                if pre == 1:
                    parts.append(_PRE)
        elif kind == _END:
            if value in _HIDDEN:
                hidden = max(0, hidden - 1)
                continue
            if hidden:
                continue
            if value == "title":
                in_title = False
            elif value == "h1":
                in_h1 = max(0, in_h1 - 1)
            elif value == "pre" and pre:
                pre -= 1
                if pre == 0:
                    parts.append(_END_PRE)
            if value in _HTML_BLOCKS:
                _break(parts, value)
        elif not hidden:
            text = (html.unescape(value) if kind == _TEXT else value).translate(_MARKERS)
            if in_title:
                title.append(text)
                continue
            if in_h1:
                h1.append(text)
            parts.append(text if pre else _WS.sub(" ", text))
            if len(parts) >= 4096:
                done.append("".join(parts))
                parts.clear()
    text, spans = _layout("".join(done + parts), block_sep)
    return _joined(title) or _joined(h1) or None, text, spans


def _break(parts: list[str], tag: str) -> None:
    """A line break for <br>, a block boundary for other block tags (one for a run of them)."""
    if tag == "br":
        parts.append("\n")
    elif not parts or parts[-1] is not _BLOCK:
        parts.append(_BLOCK)


def _layout(joined: str, block_sep: str) -> tuple[str, list[list[int]]]:
    """The reader's lines as clean text: whitespace collapsed outside <pre>, ``block_sep`` at block boundaries,
    and the span of each <pre> (its lines kept but for trailing spaces, its blank lines kept inside it)."""
    out: list[str] = []
    spans: list[list[int]] = []
    n = blank = 0
    sep, start, in_pre = "", -1, False  # start: where the current <pre>'s text begins, once it has some
    for line in joined.split("\n"):
        if line == "\x1e":
            sep = block_sep
            continue
        if line in ("\x02", "\x03"):
            if line == "\x03" and start >= 0:
                spans.append([start, n])
            in_pre, start, blank = line == "\x02", -1, 0
            continue
        line = clean(line)
        line = line.rstrip() if in_pre else _WS.sub(" ", line).strip()
        if not line:
            if in_pre and start >= 0:
                blank += 1
            continue
        if out:
            gap = sep or "\n" * (1 + blank)
            out.append(gap)
            n += len(gap)
        if in_pre and start < 0:
            start = n
        out.append(line)
        n += len(line)
        sep, blank = "", 0
    if in_pre and start >= 0:  # a <pre> left open ends with the page
        spans.append([start, n])
    return "".join(out), spans


class HTMLLoader(BaseLoader):
    """HTML to visible text; scripts, styles, noscript and templates are dropped; <pre> blocks are code."""

    def __init__(self, path: Path):
        self.path = path

    def lazy_load(self) -> Iterator[Document]:
        title, text, spans = _html(read_text(self.path))
        yield _doc(self.path, text, title, spans=spans)


@cache
def _markdown() -> MarkdownIt:
    """CommonMark with tables and footnotes; footnote marks ("[1]", "↩") are links, not text, so they go."""
    from markdown_it import MarkdownIt
    from mdit_py_plugins.footnote import footnote_plugin

    md = MarkdownIt("commonmark").enable("table").use(footnote_plugin)
    for rule in ("footnote_ref", "footnote_anchor"):
        md.add_render_rule(rule, lambda *args: "")
    return md


class MarkdownLoader(BaseLoader):
    """Markdown rendered to HTML by markdown-it and read back by the HTML reader, so every visible piece of text
    (raw HTML blocks and <br> included) arrives once, blocks apart; the first level-1 heading is the title.

    Code blocks are kept as text and marked in ``skip_spans``; images are not text, so their alt text is dropped
    (as the HTML reader drops <img alt>); a footnote's text comes once, at the end, where CommonMark renders it.
    """

    def __init__(self, path: Path):
        self.path = path

    def lazy_load(self) -> Iterator[Document]:
        md = _markdown()
        env: dict[str, Any] = {}  # the footnotes parse finds and render writes out
        tokens = md.parse(read_text(self.path), env)
        title = None
        for i, tok in enumerate(tokens):
            if tok.type == "heading_open" and tok.tag == "h1":
                title = html_text(md.renderer.render(tokens[i:i + 3], md.options, env))[1]
                del tokens[i:i + 3]  # heading_open, inline, heading_close: the title is not body text
                break
        _, text, spans = _html(md.renderer.render(tokens, md.options, env), block_sep="\n\n")
        yield _doc(self.path, text, title, spans=spans)


class PDFLoader(BaseLoader):
    """PDF text with pypdf, pages joined; a PDF with no extractable text is an error, not an empty doc."""

    def __init__(self, path: Path):
        self.path = path

    def lazy_load(self) -> Iterator[Document]:
        from pypdf import PdfReader

        where = str(self.path)
        _open(self.path, _limit(where)).close()
        with _pypdf_warnings() as notes:
            try:
                reader = PdfReader(self.path)
                if reader.is_encrypted and not reader.decrypt(""):
                    raise LoadError(where, "encrypted PDF (needs a password; save a decrypted copy)")
                pages = [p.extract_text() or "" for p in reader.pages]
                title = reader.metadata.title if reader.metadata else None
            except LoadError:
                raise
            except Exception as e:  # pypdf raises many kinds of errors on a damaged file
                raise LoadError(where, f"unreadable PDF ({str(e) or type(e).__name__})") from None
        text = "\n\n".join(p.strip() for p in pages if p.strip())
        if not clean(text).strip():
            raise LoadError(where, "PDF has no extractable text: no text layer (scanned PDF? run OCR on it first)")
        yield _doc(self.path, text, title if isinstance(title, str) else None, meta={"pages": len(pages)},
                   notes=notes)


_MAX_NOTES = 20  # a damaged PDF can warn once per object


class _Notes(logging.Handler):
    """Collects the messages of log records, once each, instead of printing them."""

    def __init__(self, notes: list[str]):
        super().__init__(logging.WARNING)
        self.notes = notes

    def emit(self, record: logging.LogRecord) -> None:
        note = _one_line(record.getMessage())
        if note and note not in self.notes and len(self.notes) < _MAX_NOTES:
            self.notes.append(note)


@contextmanager
def _pypdf_warnings() -> Iterator[list[str]]:
    """pypdf's warnings during the block, logged or warned, as a list instead of lines on stderr.

    Loads run in one thread; ``warnings.catch_warnings`` is process-wide, so warnings from other code during the
    block are passed on rather than kept.
    """
    notes: list[str] = []
    handler, log = _Notes(notes), logging.getLogger("pypdf")
    propagate, log.propagate = log.propagate, False
    log.addHandler(handler)
    caught: list[warnings.WarningMessage] | None = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield notes
    finally:
        log.removeHandler(handler)
        log.propagate = propagate
        for w in caught or []:
            if "pypdf" in w.filename or type(w.message).__module__.startswith("pypdf"):
                handler.emit(logging.makeLogRecord({"msg": str(w.message)}))
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _plain(value: Any, depth: int = 0) -> Any:
    """JSON metadata with clean strings; ValueError when nested deeper than the store can safely write."""
    if depth > _META_DEPTH:
        raise ValueError(f'"metadata" is nested more than {_META_DEPTH} levels deep')
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, list):
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {clean(k): _plain(v, depth + 1) for k, v in value.items()}
    return value


class JSONLLoader(BaseLoader):
    """One document a line: {"id", "title", "text", "metadata"?}. A bad line is reported, not fatal.

    The file is read a line at a time, so its size is not limited; each line is, by ``max_file_bytes()``.
    """

    def __init__(self, path: Path):
        self.path = path

    # A file whose first this-many lines are objects without "text" (queries, labels) is no corpus at all:
    # one error for the file instead of one per line.
    NOT_A_CORPUS_AFTER = 20

    def _lines(self) -> Iterator[tuple[int, str | LoadError]]:
        """(line number, text of the line or why it cannot be read), streaming the file."""
        limit = _limit(str(self.path))
        with _open(self.path, None) as fh:
            reason = _binary(fh.read(_SNIFF))
            if reason:
                raise LoadError(str(self.path), reason)
            fh.seek(0)
            n = offset = 0
            while raw := fh.readline(limit + 1):
                n, start = n + 1, offset
                offset += len(raw)
                if len(raw) > limit and not raw.endswith(b"\n"):
                    while raw and not raw.endswith(b"\n"):  # skip the rest of the line, a piece at a time
                        raw = fh.readline(1 << 16)
                        offset += len(raw)
                    yield n, LoadError(f"{self.path}:{n}", _over_limit("line too long:", limit))
                    continue
                bom = len(codecs.BOM_UTF8) if n == 1 and raw.startswith(codecs.BOM_UTF8) else 0
                try:
                    line = _decode(memoryview(raw)[bom:], f"{self.path}:{n}", start + bom)
                except LoadError as e:
                    yield n, e
                    continue
                line = line[:-1] if line.endswith("\n") else line
                line = line[:-1] if line.endswith("\r") else line
                for k, part in enumerate(line.split("\r")):  # a lone CR ends a line too
                    yield n + k, part
                n += line.count("\r")

    def lazy_load(self) -> Iterator[Document]:  # yields LoadError instances for bad lines
        seen: set[str] = set()
        base = str(self.path.resolve())
        shapeless: list[LoadError] = []  # held back until a line turns out to be a document
        keys: list[str] = []
        any_doc = False
        for n, line in self._lines():
            if isinstance(line, LoadError):
                yield line  # type: ignore[misc]
                continue
            if not line.strip():
                continue
            where = f"{self.path}:{n}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                yield LoadError(where, f"malformed JSON ({e.msg} at column {e.colno})")  # type: ignore[misc]
                continue
            except RecursionError:
                yield LoadError(where, "malformed JSON (nested too deeply to parse)")  # type: ignore[misc]
                continue
            except ValueError as e:  # e.g. an integer with more digits than Python converts
                yield LoadError(where, f"malformed JSON ({e})")  # type: ignore[misc]
                continue
            if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                error = LoadError(where, 'each line must be an object with a string "text"')
                if any_doc:
                    yield error  # type: ignore[misc]
                    continue
                shapeless.append(error)
                keys = keys or (list(obj)[:6] if isinstance(obj, dict) else [])
                if len(shapeless) >= self.NOT_A_CORPUS_AFTER:
                    break
                continue
            if not any_doc:
                any_doc = True
                yield from shapeless  # type: ignore[misc]
                shapeless = []
            rid = clean(str(obj.get("id", n)))
            if rid in seen:
                yield LoadError(where, f"duplicate id {rid!r}")  # type: ignore[misc]
                continue
            seen.add(rid)
            raw_meta = obj.get("metadata")
            title = obj.get("title") if isinstance(obj.get("title"), str) else None
            try:
                meta: dict = _plain(raw_meta) if isinstance(raw_meta, dict) else {}
                user = {("user_record_id" if k == "record_id" else k): v for k, v in meta.items()}  # ours wins
                doc = _doc(self.path, obj["text"], title, source=f"{base}#{rid}", meta={"record_id": rid, **user})
            except LoadError as e:
                yield LoadError(where, e.reason)  # type: ignore[misc]
                continue
            except ValueError as e:
                yield LoadError(where, str(e))  # type: ignore[misc]
                continue
            if not doc.metadata["title_explicit"]:
                doc.metadata["title"] = rid
            yield doc
        if shapeless and not any_doc:
            found = f" (its lines have {', '.join(keys)})" if keys else ""
            yield LoadError(str(self.path), f'not a document file: no line is an object with a string "text"{found}')  # type: ignore[misc]


LOADERS: dict[str, type[BaseLoader]] = {
    ".txt": TextFileLoader, ".md": MarkdownLoader, ".markdown": MarkdownLoader,
    ".html": HTMLLoader, ".htm": HTMLLoader, ".pdf": PDFLoader, ".jsonl": JSONLLoader,
}


def _printable(path: Path) -> str:
    """The path as text that can be printed and stored: bytes of a non-UTF-8 file name become U+FFFD."""
    return _SURROGATES.sub("\ufffd", str(path))


def expand_paths(paths: Iterable[str | Path], follow_links: bool = False) -> Iterator[Path | LoadError]:
    """Files as given, folders recursively (supported suffixes only, sorted), missing paths as errors.

    A path given is used even if it is a link; inside a folder, what a link would bring in from outside it and
    what is not a regular file are left out as ``LoadWarning``s (``follow_links`` follows such links).
    """
    for raw in paths:
        p = Path(raw)
        try:
            is_dir, is_file, exists = p.is_dir(), p.is_file(), p.exists()
            mode = p.stat().st_mode if exists else 0
        except (OSError, ValueError) as e:  # a NUL in the path, a name too long...
            yield LoadError(_printable(p), f"cannot use this path ({e})")
            continue
        if is_dir:
            found, notes = _walk(p, follow_links)
            yield from notes
            if not found:
                yield LoadError(_printable(p), f"folder holds no {', '.join(SUFFIXES)} files")
            yield from found
        elif is_file:
            if p.suffix.lower() in SUFFIXES:
                yield p
            else:
                yield LoadError(_printable(p), f"unsupported file type {p.suffix or '(none)'!r}; "
                                               f"expected one of {', '.join(SUFFIXES)}")
        elif exists:
            yield LoadError(_printable(p), f"not a regular file ({_kind(mode)})")
        else:
            yield LoadError(_printable(p), "no such file or directory")


def _kind(mode: int) -> str:
    kinds = [(stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "character device"),
             (stat.S_ISBLK, "block device"), (stat.S_ISDIR, "folder")]
    return next((name for test, name in kinds if test(mode)), "special file")


def _walk(root: Path, follow_links: bool) -> tuple[list[Path], list[LoadError]]:
    """The supported files under ``root``, sorted, and what was left out, sorted by path.

    Each folder is entered once (so link loops end) and each file comes once however many routes lead to it, by
    its direct path when it has one; nothing but folders is opened (a FIFO would block).
    """
    base = root.resolve()
    files: dict[tuple[int, int], tuple[bool, Path]] = {}  # (device, inode) -> (reached by a link, path)
    notes: list[LoadError] = []
    st = root.stat()
    entered = {(st.st_dev, st.st_ino)}
    todo: list[tuple[Path, bool]] = [(root, False)]
    while todo:
        folder, by_link = todo.pop()
        try:
            with os.scandir(folder) as it:
                names = sorted(entry.name for entry in it)
        except OSError as e:
            notes.append(LoadError(_printable(folder), f"cannot read folder ({e.strerror or e})"))
            continue
        for name in names:
            path = folder / name
            wanted = path.suffix.lower() in SUFFIXES
            link = path.is_symlink()
            target = Path(os.path.realpath(path)) if link else path
            try:
                st = path.stat()  # follows a link; never opens the file
            except OSError as e:  # a broken link or a link loop, or a file gone meanwhile
                if wanted:
                    what = f"link to {_printable(target)}" if link else "file"
                    notes.append(LoadWarning(_printable(path), f"{what} cannot be read ({e.strerror or e}); skipped"))
                continue
            is_dir = stat.S_ISDIR(st.st_mode)
            if link and not target.is_relative_to(base):
                if not follow_links:
                    if wanted or is_dir:
                        notes.append(LoadWarning(_printable(path), f"link to {_printable(target)} leaves the folder "
                                                                   f"{_printable(root)}; not ingested "
                                                                   "(--follow-links allows it)"))
                    continue
            elif link and is_dir:  # a folder inside: walked by its own path
                continue
            if is_dir:
                if (st.st_dev, st.st_ino) not in entered:
                    entered.add((st.st_dev, st.st_ino))
                    todo.append((path, by_link or link))
            elif stat.S_ISREG(st.st_mode):
                key, route = (st.st_dev, st.st_ino), (by_link or link, path)
                if wanted and (key not in files or route < files[key]):
                    files[key] = route
            else:
                notes.append(LoadWarning(_printable(path), f"not a regular file ({_kind(st.st_mode)}); skipped"))
    return sorted(path for _, path in files.values()), sorted(notes, key=lambda e: e.where)


def load(path: Path) -> Iterator[Document | LoadError]:
    """Every document in one file, or the errors that stopped it; never raises for a bad file."""
    where = _printable(path)
    if where != str(path):
        yield LoadError(where, "file name is not valid UTF-8; rename the file")
        return
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        yield LoadError(where, f"unsupported file type {path.suffix or '(none)'!r}; "
                               f"expected one of {', '.join(SUFFIXES)}")
        return
    try:
        yield from loader(path).lazy_load()  # type: ignore[call-arg]
    except LoadError as e:
        yield e
    except RecursionError:
        yield LoadError(where, "document nesting too deep to parse")
    except Exception as e:  # a parser's own failure on a hostile file ends that file, not the ingest
        yield LoadError(where, f"cannot parse file ({type(e).__name__}: {e})")
