"""kg.loaders: every format to a LangChain Document, or a one-line reason naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SAMPLE, SAMPLE_FILES, write
from langchain_core.documents import Document

from kg.loaders import (
    HTMLLoader,
    JSONLLoader,
    LoadError,
    MarkdownLoader,
    PDFLoader,
    TextFileLoader,
    expand_paths,
    load,
    read_text,
)


def one(path: Path) -> Document:
    items = list(load(path))
    assert len(items) == 1, items
    assert isinstance(items[0], Document), items[0]
    return items[0]


def error(path: Path) -> LoadError:
    items = list(load(path))
    assert len(items) == 1, items
    assert isinstance(items[0], LoadError), items[0]
    return items[0]


# -- plain text ----------------------------------------------------------------------------------------------
def test_txt_short_first_line_then_blank_line_is_the_title(tmp_path: Path) -> None:
    p = write(tmp_path, "notes.txt", "Willi Schneider\n\nWilli Schneider is a skeleton racer.\nHe was born in 1963.\n")
    doc = one(p)
    assert doc.metadata["title"] == "Willi Schneider"
    assert doc.metadata["title_explicit"] is True
    assert doc.page_content == "Willi Schneider is a skeleton racer.\nHe was born in 1963."
    assert doc.metadata["source"] == str(p.resolve())


@pytest.mark.parametrize("text", [
    "This is a whole sentence.\n\nAnd another paragraph.",  # ends like a sentence: not a title
    "No blank line after this\nso it is just text.",
    "x" * 121 + "\n\nbody",  # too long for a title
])
def test_txt_without_a_title_line_takes_the_title_from_the_file_name(tmp_path: Path, text: str) -> None:
    doc = one(write(tmp_path, "my_field-notes.txt", text))
    assert doc.metadata["title"] == "my field notes"
    assert doc.metadata["title_explicit"] is False
    assert doc.page_content == text.strip()


def test_txt_line_endings_are_normalised_and_utf8_bom_dropped(tmp_path: Path) -> None:
    p = write(tmp_path, "crlf.txt", "\ufeffTitle\r\n\r\nline one\r\nline two\rline three\r\n".encode())
    doc = one(p)
    assert doc.metadata["title"] == "Title"
    assert doc.page_content == "line one\nline two\nline three"


# -- markdown ------------------------------------------------------------------------------------------------
def test_md_first_h1_is_the_title_and_markup_is_removed(tmp_path: Path) -> None:
    md = ("# Niels Bohr\n\n**Niels Bohr** was a *Danish* physicist who worked in\n"
          "Copenhagen and [Manchester](https://example.org).\n\n## Later career\n\n- He won a `Nobel` Prize.\n"
          "- He met Einstein.\n\n# A second h1\n\nText.\n")
    doc = one(write(tmp_path, "bohr.md", md))
    assert doc.metadata["title"] == "Niels Bohr"
    assert doc.metadata["title_explicit"] is True
    # A line break inside a paragraph is a space: "in\nCopenhagen" must not become "inCopenhagen".
    assert doc.page_content == (
        "Niels Bohr was a Danish physicist who worked in Copenhagen and Manchester.\n\n"
        "Later career\n\nHe won a Nobel Prize.\n\nHe met Einstein.\n\nA second h1\n\nText."
    )


def test_md_without_h1_falls_back_to_the_file_name(tmp_path: Path) -> None:
    doc = one(write(tmp_path, "lise_meitner.md", "## Early life\n\nLise Meitner was born in Vienna.\n"))
    assert doc.metadata["title"] == "lise meitner"
    assert doc.metadata["title_explicit"] is False
    assert doc.page_content == "Early life\n\nLise Meitner was born in Vienna."


def test_md_sample_file_title() -> None:
    doc = one(SAMPLE / "organisations" / "marie_curie_charity.md")
    assert doc.metadata["title"] == "Marie Curie (charity)"
    assert doc.page_content.startswith("Marie Curie is a charity in the United Kingdom")
    assert "**" not in doc.page_content and "#" not in doc.page_content


# -- html ----------------------------------------------------------------------------------------------------
def test_html_drops_script_and_style_and_uses_the_title_tag() -> None:
    doc = one(SAMPLE / "institutions" / "radium_institute.html")
    assert doc.metadata["title"] == "Radium Institute"
    assert doc.metadata["title_explicit"] is True
    text = doc.page_content
    assert "font-family" not in text and "addEventListener" not in text and "tracking pixel" not in text
    assert text.startswith("Radium Institute\nThe Radium Institute (Institut du Radium) in Paris was founded in 1909")
    assert text.endswith("Not to be confused with Marie Curie, the British end-of-life care charity.")


def test_html_inline_markup_does_not_break_sentences(tmp_path: Path) -> None:
    html = ("<html><head><style>p {color: red}</style></head><body><h1>Curie</h1>"
            "<p>Marie <b>Curie</b> was born in <a href='#'>Warsaw</a>.</p><noscript>enable js</noscript>"
            "<template><p>hidden</p></template><p>Second\n   line<br>after break</p>"
            "<ul><li>one</li><li>two</li></ul><!-- a comment --></body></html>")
    doc = one(write(tmp_path, "inline.html", html))
    assert doc.metadata["title"] == "Curie"  # no <title>: the first h1
    assert doc.page_content == "Curie\nMarie Curie was born in Warsaw.\nSecond line\nafter break\none\ntwo"


# -- pdf -----------------------------------------------------------------------------------------------------
def test_pdf_text_is_extracted_with_the_metadata_title() -> None:
    doc = one(SAMPLE / "institutions" / "university_of_manchester.pdf")
    assert doc.metadata["title"] == "University of Manchester"
    assert doc.metadata["pages"] == 1
    assert "In 1907 Ernest Rutherford left McGill University in Montreal" in doc.page_content


def test_pdf_without_text_is_an_error(tmp_path: Path) -> None:
    from pypdf import PdfWriter

    w = PdfWriter()
    w.add_blank_page(width=200, height=200)
    p = tmp_path / "scan.pdf"
    with p.open("wb") as fh:
        w.write(fh)
    e = error(p)
    assert e.where == str(p)
    assert "no extractable text" in e.reason


def test_file_that_is_not_really_a_pdf_is_an_error(tmp_path: Path) -> None:
    e = error(write(tmp_path, "fake.pdf", "this is plain text, not a PDF"))
    assert e.reason.startswith("unreadable PDF")


# -- jsonl ---------------------------------------------------------------------------------------------------
def test_jsonl_records_become_documents_with_id_title_text_and_metadata(tmp_path: Path) -> None:
    p = write(tmp_path, "recs.jsonl", "\n".join([
        '{"id": "n1903", "title": "Nobel Prize in Physics 1903", "text": "Awarded to Becquerel.", '
        '"metadata": {"year": 1903, "source": "theirs", "record_id": "theirs too"}}',
        "",
        '{"id": 7, "text": "No title here."}',
        '{"text": "No id either."}',
    ]))
    docs = list(load(p))
    assert all(isinstance(d, Document) for d in docs)
    assert [d.metadata["source"] for d in docs] == [f"{p.resolve()}#n1903", f"{p.resolve()}#7", f"{p.resolve()}#4"]
    first, second, third = docs
    assert first.page_content == "Awarded to Becquerel."
    assert first.metadata["title"] == "Nobel Prize in Physics 1903" and first.metadata["title_explicit"] is True
    assert first.metadata["year"] == 1903
    # The file's metadata never overrides the loader's own keys; it is kept under user_*.
    assert first.metadata["record_id"] == "n1903"
    assert first.metadata["user_record_id"] == "theirs too"
    assert first.metadata["user_source"] == "theirs"
    assert second.metadata["title"] == "7" and second.metadata["title_explicit"] is False
    assert third.metadata["record_id"] == "4"  # no id: the line number


def test_jsonl_malformed_line_is_reported_with_file_and_line_while_others_load(tmp_path: Path) -> None:
    p = write(tmp_path, "mixed.jsonl", "\n".join([
        '{"id": "a", "text": "Good one."}',
        '{"id": "b", "text": "broken',
        '["not", "an", "object"]',
        '{"id": "c", "title": "no text"}',
        '{"id": "d", "text": "   "}',
        '{"id": "e", "text": "Good two."}',
    ]))
    items = list(load(p))
    docs = [i for i in items if isinstance(i, Document)]
    errors = {e.where: e.reason for e in items if isinstance(e, LoadError)}
    assert [d.page_content for d in docs] == ["Good one.", "Good two."]
    assert set(errors) == {f"{p}:2", f"{p}:3", f"{p}:4", f"{p}:5"}
    assert errors[f"{p}:2"].startswith("malformed JSON")
    assert 'string "text"' in errors[f"{p}:3"] and 'string "text"' in errors[f"{p}:4"]
    assert errors[f"{p}:5"].startswith("empty document")
    assert str([e for e in items if isinstance(e, LoadError)][0]).startswith(f"{p}:2: malformed JSON")


def test_jsonl_duplicate_ids_keep_the_first_and_report_the_rest(tmp_path: Path) -> None:
    p = write(tmp_path, "dups.jsonl", '{"id": "x", "text": "first"}\n{"id": "x", "text": "second"}\n'
                                      '{"id": "y", "text": "third"}\n')
    items = list(load(p))
    assert [i.page_content for i in items if isinstance(i, Document)] == ["first", "third"]
    (e,) = [i for i in items if isinstance(i, LoadError)]
    assert e.where == f"{p}:2" and e.reason == "duplicate id 'x'"


def test_loaders_are_langchain_loaders(tmp_path: Path) -> None:
    p = write(tmp_path, "a.txt", "Some text.")
    for cls in (TextFileLoader, MarkdownLoader, HTMLLoader, PDFLoader, JSONLLoader):
        assert hasattr(cls, "load") and hasattr(cls, "lazy_load")
    assert [d.page_content for d in TextFileLoader(p).load()] == ["Some text."]


# -- bad files -----------------------------------------------------------------------------------------------
def test_missing_path_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "gone.txt"
    (e,) = list(expand_paths([missing]))
    assert isinstance(e, LoadError)
    assert e.where == str(missing) and e.reason == "no such file or directory"


def test_unsupported_extension_is_an_error(tmp_path: Path) -> None:
    p = write(tmp_path, "report.docx", "whatever")
    q = write(tmp_path, "README", "no extension")
    e1, e2 = list(expand_paths([p, q]))
    assert isinstance(e1, LoadError) and e1.reason.startswith("unsupported file type '.docx'")
    assert ".txt" in e1.reason and ".jsonl" in e1.reason
    assert isinstance(e2, LoadError) and e2.reason.startswith("unsupported file type '(none)'")


def test_binary_file_is_refused(tmp_path: Path) -> None:
    p = write(tmp_path, "image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    e = error(p)
    assert e.where == str(p) and e.reason == "binary file (contains NUL bytes), not text"


@pytest.mark.parametrize("data, offset", [(b"caf\xe9 au lait", 3), (b"\xef\xbb\xbfabc\xff", 6)])
def test_undecodable_file_names_the_byte_and_its_offset(tmp_path: Path, data: bytes, offset: int) -> None:
    p = write(tmp_path, "latin1.md", data)
    e = error(p)
    assert e.reason == f"not valid UTF-8 (byte 0x{data[offset]:02x} at offset {offset})"
    with pytest.raises(LoadError):
        read_text(p)


@pytest.mark.parametrize("name, text", [
    ("empty.txt", ""), ("blank.txt", "  \n\n \t\n"), ("title_only.txt", "Only A Title\n\n"),
    ("empty.md", "# Just a heading\n"), ("empty.html", "<html><body><script>var x = 1;</script></body></html>"),
    ("empty.jsonl", ""),
])
def test_empty_document_is_an_error(tmp_path: Path, name: str, text: str) -> None:
    items = list(load(write(tmp_path, name, text)))
    if name.endswith(".jsonl"):
        assert items == []  # no lines, no documents, nothing to report per line
        return
    (e,) = items
    assert isinstance(e, LoadError) and e.reason == "empty document (no text after parsing)"


def test_folder_recursion_finds_supported_files_sorted(tmp_path: Path) -> None:
    write(tmp_path, "b.txt", "b")
    write(tmp_path, "a/deep/er/c.md", "c")
    write(tmp_path, "a/x.HTML", "<p>x</p>")
    write(tmp_path, "a/skip.csv", "1,2")
    write(tmp_path, "a/NOTES", "no suffix")
    found = list(expand_paths([tmp_path]))
    assert found == sorted([tmp_path / "a/deep/er/c.md", tmp_path / "a/x.HTML", tmp_path / "b.txt"])


def test_sample_folder_loads_every_document() -> None:
    files = list(expand_paths([SAMPLE]))
    assert len(files) == SAMPLE_FILES and all(isinstance(f, Path) for f in files)
    assert SAMPLE / "ABOUT" not in files
    docs = [d for f in files for d in load(f)]
    assert all(isinstance(d, Document) for d in docs), [d for d in docs if isinstance(d, LoadError)]
    assert len(docs) == 23
    assert len({d.metadata["source"] for d in docs}) == 23
    assert all(d.metadata["title_explicit"] for d in docs)


def test_jsonl_without_any_document_line_is_one_error_for_the_file(tmp_path: Path) -> None:
    # A queries or labels file passed by mistake: one error naming the file and what its lines hold.
    lines = "".join(f'{{"id": "q{i}", "question": "Who?", "answers": ["x"]}}\n' for i in range(40))
    items = list(load(write(tmp_path, "queries.jsonl", lines)))
    assert len(items) == 1 and isinstance(items[0], LoadError)
    assert items[0].where == str(tmp_path / "queries.jsonl")
    assert "not a document file" in items[0].reason and "id, question, answers" in items[0].reason
    # The same lines before real documents are reported one by one, and the documents still load.
    mixed = write(tmp_path, "mixed.jsonl", '{"id": "q1", "question": "Who?"}\n{"id": "d1", "text": "Paris."}\n')
    out = list(load(mixed))
    assert [type(x).__name__ for x in out] == ["LoadError", "Document"]
    assert out[0].where == f"{mixed}:1"


def test_folder_without_supported_files_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    write(tmp_path / "other", "notes.docx", "not supported")
    out = list(expand_paths([tmp_path / "empty", tmp_path / "other"]))
    assert [(type(x).__name__, x.where) for x in out] == [("LoadError", str(tmp_path / "empty")),
                                                         ("LoadError", str(tmp_path / "other"))]
    assert "folder holds no .txt" in out[0].reason
