"""File loaders: txt, md, html, pdf and jsonl become LangChain ``Document``s, or a one-line reason why not.

Each loader is a LangChain ``BaseLoader``, so it also works in any LangChain pipeline. The metadata carries
``source`` (the document's identity in the store), ``title`` and ``title_explicit`` (whether the title came
from the file's content rather than its name).
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from langchain_core.document_loaders import BaseLoader
from langchain_core.documents import Document

SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".jsonl")
_SNIFF = 8192


class LoadError(Exception):
    """A file, or one record in it, that cannot become a document; ``str()`` is the one-line reason."""

    def __init__(self, where: str, reason: str):
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


def _title_from_name(path: Path) -> str:
    return path.stem.replace("_", " ").replace("-", " ").strip() or path.name


def read_text(path: Path) -> str:
    """The file as UTF-8 text, refusing binary and undecodable files with a clear reason."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise LoadError(str(path), f"cannot read file ({e.strerror or e})") from None
    if b"\x00" in data[:_SNIFF]:
        raise LoadError(str(path), "binary file (contains NUL bytes), not text")
    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        text = data[bom:].decode("utf-8")
    except UnicodeDecodeError as e:
        at = bom + e.start  # an offset into the file, not into the text after the byte-order mark
        raise LoadError(str(path), f"not valid UTF-8 (byte 0x{data[at]:02x} at offset {at})") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _doc(path: Path, text: str, title: str | None, source: str | None = None,
         meta: dict | None = None) -> Document:
    text = text.strip()
    if not text:
        raise LoadError(source or str(path), "empty document (no text after parsing)")
    explicit = bool(title and title.strip())
    metadata = {"source": source or str(path.resolve()), "title": (title or "").strip() or _title_from_name(path),
                "title_explicit": explicit, "path": str(path)}
    for k, v in (meta or {}).items():  # the file's own metadata never overrides ours
        metadata[k if k not in metadata else f"user_{k}"] = v
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


# Inline tokens that carry text; a line break inside a paragraph is a space between its words.
_MD_INLINE = ("text", "code_inline", "softbreak", "hardbreak")


class MarkdownLoader(BaseLoader):
    """Markdown rendered to plain text with markdown-it; the first level-1 heading is the title."""

    def __init__(self, path: Path):
        self.path = path

    def lazy_load(self) -> Iterator[Document]:
        from markdown_it import MarkdownIt

        tokens = MarkdownIt("commonmark").parse(read_text(self.path))
        title, blocks, heading = None, [], None
        for tok in tokens:
            if tok.type == "heading_open":
                heading = tok.tag
            elif tok.type == "heading_close":
                heading = None
            elif tok.type in ("inline", "code_block", "fence"):
                text = "".join(c.content if c.type in ("text", "code_inline") else " "
                               for c in tok.children or [] if c.type in _MD_INLINE) \
                    if tok.type == "inline" else tok.content
                text = text if tok.type != "inline" else text.replace("\n", " ")
                if heading == "h1" and title is None:
                    title = text
                    continue
                blocks.append(text.strip())
        yield _doc(self.path, "\n\n".join(b for b in blocks if b), title)


_WS = re.compile(r"[ \t\n\r\f\v]+")
_HTML_BLOCKS = ["address", "article", "aside", "blockquote", "br", "caption", "dd", "details", "dialog", "div", "dl",
                "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
                "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table", "tbody",
                "td", "tfoot", "th", "thead", "tr", "ul"]


class HTMLLoader(BaseLoader):
    """HTML to visible text with BeautifulSoup; scripts, styles and templates are dropped."""

    def __init__(self, path: Path):
        self.path = path

    def lazy_load(self) -> Iterator[Document]:
        from bs4 import BeautifulSoup, NavigableString

        soup = BeautifulSoup(read_text(self.path), "html.parser")
        for tag in soup(["script", "style", "noscript", "template"]):
            tag.decompose()
        title = soup.title.get_text(" ", strip=True) if soup.title else None
        if not title and soup.h1:
            title = soup.h1.get_text(" ", strip=True)
        if soup.title:
            soup.title.decompose()
        body = soup.body or soup
        # Whitespace inside text collapses as a browser does; only block elements and <br> break lines, so
        # inline markup (<b>, <a>, <em>...) no longer splits a sentence or a name across lines.
        for s in body.find_all(string=True):
            if type(s) is NavigableString and s.find_parent("pre") is None:
                s.replace_with(_WS.sub(" ", s))
        for tag in body.find_all(_HTML_BLOCKS):
            if tag.name == "br":
                tag.replace_with("\n")
            else:
                tag.insert_before("\n")
                tag.insert_after("\n")
        blocks = [_WS.sub(" ", b).strip() for b in body.get_text().split("\n")]
        yield _doc(self.path, "\n".join(b for b in blocks if b), title)


class PDFLoader(BaseLoader):
    """PDF text with pypdf, pages joined; a PDF with no extractable text is an error, not an empty doc."""

    def __init__(self, path: Path):
        self.path = path

    def lazy_load(self) -> Iterator[Document]:
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError

        try:
            reader = PdfReader(self.path)
            pages = [p.extract_text() or "" for p in reader.pages]
            title = reader.metadata.title if reader.metadata else None
        except (PdfReadError, OSError, ValueError, KeyError) as e:
            raise LoadError(str(self.path), f"unreadable PDF ({e})") from None
        text = "\n\n".join(p.strip() for p in pages if p.strip())
        if not text:
            raise LoadError(str(self.path), "PDF has no extractable text (scanned images need OCR first)")
        yield _doc(self.path, text, title, meta={"pages": len(pages)})


class JSONLLoader(BaseLoader):
    """One document a line: {"id", "title", "text", "metadata"?}. A bad line is reported, not fatal."""

    def __init__(self, path: Path):
        self.path = path

    # A file whose first this-many lines are objects without "text" (queries, labels) is no corpus at all:
    # one error for the file instead of one per line.
    NOT_A_CORPUS_AFTER = 20

    def lazy_load(self) -> Iterator[Document]:  # yields LoadError instances for bad lines
        text = read_text(self.path)
        seen: set[str] = set()
        base = str(self.path.resolve())
        shapeless: list[LoadError] = []  # held back until a line turns out to be a document
        keys: list[str] = []
        any_doc = False
        for n, line in enumerate(text.split("\n"), 1):
            if not line.strip():
                continue
            where = f"{self.path}:{n}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                yield LoadError(where, f"malformed JSON ({e.msg} at column {e.colno})")  # type: ignore[misc]
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
            rid = str(obj.get("id", n))
            if rid in seen:
                yield LoadError(where, f"duplicate id {rid!r}")  # type: ignore[misc]
                continue
            seen.add(rid)
            raw_meta = obj.get("metadata")
            meta: dict = raw_meta if isinstance(raw_meta, dict) else {}
            title = obj.get("title") if isinstance(obj.get("title"), str) else None
            try:
                user = {("user_record_id" if k == "record_id" else k): v for k, v in meta.items()}  # ours wins
                doc = _doc(self.path, obj["text"], title, source=f"{base}#{rid}", meta={"record_id": rid, **user})
            except LoadError as e:
                yield LoadError(where, e.reason)  # type: ignore[misc]
                continue
            if not title:
                doc.metadata["title"] = rid
            yield doc
        if shapeless and not any_doc:
            found = f" (its lines have {', '.join(keys)})" if keys else ""
            yield LoadError(str(self.path), f'not a document file: no line is an object with a string "text"{found}')  # type: ignore[misc]


LOADERS: dict[str, type[BaseLoader]] = {
    ".txt": TextFileLoader, ".md": MarkdownLoader, ".markdown": MarkdownLoader,
    ".html": HTMLLoader, ".htm": HTMLLoader, ".pdf": PDFLoader, ".jsonl": JSONLLoader,
}


def expand_paths(paths: Iterable[str | Path]) -> Iterator[Path | LoadError]:
    """Files as given, folders recursively (supported suffixes only, sorted), missing paths as errors."""
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in SUFFIXES)
            if not found:
                yield LoadError(str(p), f"folder holds no {', '.join(SUFFIXES)} files")
            yield from found
        elif p.is_file():
            if p.suffix.lower() in SUFFIXES:
                yield p
            else:
                yield LoadError(str(p), f"unsupported file type {p.suffix or '(none)'!r}; "
                                        f"expected one of {', '.join(SUFFIXES)}")
        elif p.exists():
            yield LoadError(str(p), "not a regular file")
        else:
            yield LoadError(str(p), "no such file or directory")


def load(path: Path) -> Iterator[Document | LoadError]:
    """Every document in one file, or the errors that stopped it; never raises for a bad file."""
    try:
        yield from LOADERS[path.suffix.lower()](path).lazy_load()  # type: ignore[call-arg]
    except LoadError as e:
        yield e
    except RecursionError:
        yield LoadError(str(path), "document nesting too deep to parse")
