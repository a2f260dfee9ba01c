"""Large and structured documents: extraction work per mention stays flat as a document grows, code is never
read for names, table cells are never joined into one, a long document reports progress while spaCy reads it,
and loader warnings are reported without failing anything."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import rows, write
from langchain_core.documents import Document

import extract
import kg.pipeline
from extract.mask import masked, skip_ranges
from extract.pipeline import ExtractConfig, Extractor, SourceDoc
from kg.api import KGConfig, KnowledgeGraph
from kg.chunking import ChunkConfig, Chunker
from kg.loaders import LoadWarning
from kg.types import FileError
from store.records import DocumentRecord

CODE = '''def flood(river):
    # Marie Curie measured this in Warsaw
    return river.upper() + " Albert Einstein"'''
PROSE = "Marie Curie worked in Paris with Pierre Curie."
FIRST = ["Anna", "Boris", "Clara", "David", "Elena", "Felix", "Greta", "Hugo"]
SYL1 = ["Bar", "Kor", "Mel", "Dan", "Hal", "Ros", "Vin", "Tam", "Gel", "Sor", "Pil", "Nor", "Fen", "Wal", "Tor", "Lin"]
SYL2 = ["vanek", "berg", "ley", "ton", "mann", "ski", "sen", "ford", "dale", "worth", "ridge", "holm"]


def table(n_rows: int, sep: str = " | ") -> str:
    """A table of distinct people, places, years, counts and companies; ``sep="\\n"`` puts each cell on a line."""
    lines = []
    for i in range(n_rows):
        name = f"{FIRST[i % 8]} {SYL1[(i // 8) % 16]}{SYL2[(i // 128) % 12]}"
        cells = [name, ["Berlin", "Vienna", "Leeds"][i % 3], str(1900 + i % 100), f"{i * 37 % 1000:,}.{i % 10}",
                 name.split()[1], f"{SYL1[i % 16]}{SYL2[i % 12]} Ltd"]
        lines.append(sep.join(cells))
    return "\n".join(lines)


def doc_mentions(g: KnowledgeGraph, source: str) -> list[tuple[str, int, int, str]]:
    """(surface, document start, document end, how found) of one document's mentions."""
    return rows(g.path, "SELECT m.surface, c.start_char + m.start, c.start_char + m.\"end\", m.source FROM mentions m "
                        "JOIN chunks c ON c.id = m.chunk_id JOIN documents d ON d.id = c.document_id "
                        "WHERE d.source = ? ORDER BY 2", (source,))


@pytest.fixture
def fake_load(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path, Document | Exception], None]:
    """Make ``load`` give a prepared Document (as a loader that marks code would) for one path."""
    made: dict[str, Document | Exception] = {}
    real = kg.pipeline.load

    def load(path: Path) -> Iterator[Document | Exception]:
        item = made.get(str(path))
        if item is None:
            yield from real(path)
        else:
            yield item

    monkeypatch.setattr(kg.pipeline, "load", load)

    def prepare(path: Path, item: Document | Exception) -> None:
        made[str(path)] = item

    return prepare


def code_document(path: Path, before: str, after: str) -> tuple[Document, tuple[int, int]]:
    text = f"{before}\n\n{CODE}\n\n{after}"
    start = text.index(CODE)
    meta = {"source": str(path.resolve()), "title": "Notes", "title_explicit": False,
            "skip_spans": [[start, start + len(CODE)]]}
    return Document(page_content=text, metadata=meta), (start, start + len(CODE))


# -- code ----------------------------------------------------------------------------------------------------------
def test_masking_keeps_every_offset_and_line_break() -> None:
    text = "ab\ncd ef"
    assert masked(text, 10, [(11, 15)]) == "a \n   ef"
    assert masked(text, 10, [(0, 5), (17, 30)]) == text[:7] + " "
    assert masked(text, 10, []) == text
    assert skip_ranges([[5, 9], [1, 3], [2, 4], [7, 7], "x", [1], [True, 4], [-1, 2], [8, 12]]) == [(1, 4), (5, 12)]
    assert skip_ranges(None) == [] and skip_ranges({"a": 1}) == []


def test_code_is_not_read_for_names(make_kg: Callable[..., KnowledgeGraph], tmp_path: Path,
                                    fake_load: Callable) -> None:
    path = write(tmp_path, "notes.md", "placeholder")
    doc, (a, b) = code_document(path, PROSE, "Later she lectured in Warsaw.")
    fake_load(path, doc)
    g = make_kg()
    report = g.ingest([path], index=False)
    assert report.documents == 1 and report.errors == []
    found = doc_mentions(g, str(path.resolve()))
    assert ("Marie Curie", 0, 11, "ner") in found and any(m[0] == "Warsaw" and m[1] > b for m in found)
    assert not [m for m in found if m[1] < b and a < m[2]], found
    names = {n for (n,) in rows(g.path, "SELECT name FROM document_names")}
    assert "Albert Einstein" not in names
    stored = json.loads(rows(g.path, "SELECT metadata FROM documents")[0][0])
    assert stored["skip_spans"] == [[a, b]]  # kept, so that a re-link masks the same text


def test_markdown_code_blocks_yield_no_mentions(make_kg: Callable[..., KnowledgeGraph], tmp_path: Path) -> None:
    """End to end with the Markdown loader, which marks fenced and indented code."""
    path = write(tmp_path, "river.md", f"# River notes\n\n{PROSE}\n\n```python\n{CODE}\n```\n\nThe end.\n")
    g = make_kg()
    assert g.ingest([path], index=False).errors == []
    (meta, text), = rows(g.path, "SELECT d.metadata, c.text FROM documents d JOIN chunks c ON c.document_id = d.id")
    spans = json.loads(meta).get("skip_spans")
    assert spans, "the Markdown loader marks code blocks"
    found = doc_mentions(g, str(path.resolve()))
    assert any(s == "Marie Curie" for s, *_ in found)
    assert not [m for m in found for a, b in spans if m[1] < b and a < m[2]], found


def test_a_relink_keeps_code_unmatched(make_kg: Callable[..., KnowledgeGraph], tmp_path: Path,
                                       fake_load: Callable) -> None:
    """A name new to the store queues the documents whose text holds it; in code it matches nothing, so a
    document that has it only in code needs no re-link, and one re-linked for its prose gains nothing in code."""
    only_code = write(tmp_path, "a.md", "x")
    both = write(tmp_path, "b.md", "x")
    fake_load(only_code, code_document(only_code, "A short note on rivers.", "Nothing else.")[0])
    doc, (a, b) = code_document(both, "Readers loved Albert Einstein and the river.", "The end.")
    fake_load(both, Document(page_content=doc.page_content.replace("Readers loved Albert Einstein",
                                                                     "Readers loved Blue Orchard Summer"),
                             metadata=doc.metadata))
    g = make_kg()
    assert g.ingest([only_code, both], index=False).documents == 2
    assert not [m for m in doc_mentions(g, str(both.resolve())) if "Orchard" in m[0]]
    # The film's record brings "Blue Orchard Summer" (its title) and "Albert Einstein" (its NER) to the store.
    film = write(tmp_path, "film.jsonl", json.dumps({
        "id": "bos", "title": "Blue Orchard Summer",
        "text": "Blue Orchard Summer is a 1950 drama film in which Albert Einstein appears as himself."}) + "\n")
    report = g.ingest([film], index=False)
    assert report.relinked == 1  # b.md, for its prose; a.md's only match is in code
    found = doc_mentions(g, str(both.resolve()))
    assert any(m[0] == "Blue Orchard Summer" and m[2] <= a for m in found), found
    assert not [m for m in found if m[1] < b and a < m[2]], found
    assert not [m for m in doc_mentions(g, str(only_code.resolve())) if "Einstein" in m[0] or "Curie" in m[0]]


# -- tables ---------------------------------------------------------------------------------------------------------
def test_a_name_never_spans_a_line_break_or_is_only_a_number(make_kg: Callable[..., KnowledgeGraph],
                                                            tmp_path: Path) -> None:
    cells, rows_ = write(tmp_path, "cells.txt", table(120, sep="\n")), write(tmp_path, "rows.txt", table(240))
    g = make_kg()
    assert g.ingest([cells, rows_], index=False).errors == []
    surfaces = [s for (s,) in rows(g.path, "SELECT surface FROM mentions")]
    names = [n for (n,) in rows(g.path, "SELECT name FROM document_names")]
    assert "Boris Barvanek" in surfaces
    assert not [s for s in surfaces + names if "\n" in s or "|" in s or not any(c.isalpha() for c in s)]


@pytest.mark.parametrize(("text", "kept"), [("| Acme Ltd |", "Acme Ltd"), ("| 49.54 |", None), ("(ASEAN)", "ASEAN")])
def test_a_name_is_trimmed_of_the_layout_around_it(text: str, kept: str | None) -> None:
    from spacy.tokens import Span

    from extract.names import trim
    from extract.ner import load_pipeline

    doc = load_pipeline(parser=False).make_doc(text)
    out = trim(Span(doc, 0, len(doc), label="ORG"))
    assert (out.text if out is not None else None) == kept


# -- linear work ----------------------------------------------------------------------------------------------------
def _work_per_mention(ex: Extractor, text: str) -> float:
    """Lines of the extract package run per mention while one document is linked (spaCy left out): a count, so
    the same on every machine, that grows with the document wherever a step scans what came before."""
    rec = DocumentRecord(source="t", title="T", content_hash="h", n_chars=len(text), chunks=Chunker().split(text))
    ex.set_names([])
    docs = [d for d, _ in ex.ner.pipe((c.text, None) for c in rec.chunks)]
    package = os.path.dirname(extract.__file__)
    n = 0

    def count(frame, event, arg):  # type: ignore[no-untyped-def]
        nonlocal n
        n += 1
        return count

    def calls(frame, event, arg):  # type: ignore[no-untyped-def]
        return count if frame.f_code.co_filename.startswith(package) else None

    sys.settrace(calls)
    try:
        out = ex.extract(SourceDoc(rec, title_names_entity=False), docs)
    finally:
        sys.settrace(None)
    return n / len(out.mentions)


@pytest.mark.parametrize("sep", [" | ", "\n"])
def test_linking_work_per_mention_does_not_grow_with_the_document(sep: str) -> None:
    ex = Extractor(ExtractConfig(n_process=1))
    small, large = (_work_per_mention(ex, table(n, sep)) for n in (300, 900))
    assert large < 1.2 * small, (small, large)


# -- progress -------------------------------------------------------------------------------------------------------
def test_progress_moves_inside_one_long_document(make_kg: Callable[..., KnowledgeGraph], tmp_path: Path) -> None:
    path = write(tmp_path, "long.txt", "\n\n".join([PROSE, "Warsaw is a city on the Vistula."] * 120))
    g = make_kg(config=KGConfig(chunk=ChunkConfig(size=60, overlap=0)))
    calls: list[tuple[int, int]] = []
    report = g.ingest([path], progress=lambda d, c: calls.append((d, c)), index=False)
    assert report.documents == 1 and report.chunks >= 200
    before = [c for d, c in calls if d == 0]
    assert len(before) >= 3 and before[0] > 0, calls  # chunk counts move before the document is stored
    assert [c for _, c in calls] == sorted(c for _, c in calls)
    assert calls[-1] == (1, report.chunks)


# -- loader warnings ------------------------------------------------------------------------------------------------
def test_loader_warnings_are_reported_and_fail_nothing(make_kg: Callable[..., KnowledgeGraph], tmp_path: Path,
                                                        fake_load: Callable) -> None:
    pdf = write(tmp_path, "scan.md", "x")
    odd = write(tmp_path, "odd.md", "x")
    plain = write(tmp_path, "plain.txt", PROSE)
    source = str(pdf.resolve())
    fake_load(pdf, Document(page_content=PROSE, metadata={
        "source": source, "title": "Scan", "title_explicit": False, "warnings": ["Ignoring wrong pointing object"]}))
    fake_load(odd, LoadWarning(str(odd), "read with a caveat"))
    g = make_kg()
    report = g.ingest([pdf, odd, plain], index=False)
    assert report.ok and report.documents == 2
    assert report.warnings == [FileError(source, "Ignoring wrong pointing object"),
                               FileError(str(odd), "read with a caveat")]
    meta = json.loads(rows(g.path, "SELECT metadata FROM documents WHERE source = ?", (source,))[0][0])
    assert "warnings" not in meta


def test_a_link_out_of_the_folder_is_a_warning_and_no_member(make_kg: Callable[..., KnowledgeGraph],
                                                              tmp_path: Path) -> None:
    folder, outside = tmp_path / "notes", tmp_path / "elsewhere"
    write(folder, "a.txt", PROSE)
    target = write(outside, "b.txt", "Niels Bohr lived in Copenhagen.")
    (folder / "b.txt").symlink_to(target)
    g = make_kg()
    report = g.ingest([folder], index=False)
    assert report.ok and report.documents == 1
    assert [w.where for w in report.warnings] == [str(folder / "b.txt")]
    report = g.ingest([folder], index=False, follow_links=True)
    assert report.ok and report.documents == 1 and report.skipped == 1
    plan = g.sync_plan(folder)
    assert plan.add == plan.replace == plan.delete == [] and plan.errors == []
    assert [w.where for w in plan.warnings] == [str(folder / "b.txt")]  # and b.txt, outside, stays
