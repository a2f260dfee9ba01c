"""Injection safety: SQL metacharacters, quotes, markup and FTS syntax round-trip exactly through the store.

One store is built for the module from a knowledge base whose names are hostile and documents whose ids,
titles, file names and text are; every value is then read back through the API, through sqlite3 directly and
through the exported graph, and must equal what went in.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import TABLES, read_graph, rows, write

from extract.normalize import normalize
from kg.api import KnowledgeGraph
from kg.cli import cli
from kg.loaders import clean

HOSTILE = [
    "'; DROP TABLE documents; --",
    '" OR 1=1 --',
    "Robert'); DROP TABLE entities;--",
    "back\\slash \\' \\\" \\\\ \\n",
    "100% of _all_ [a-z] rows LIKE '%'",
    "<script>alert(1)</script>",
    "<![CDATA[ x ]]> ]]> &amp; &lt;b&gt; &#0; <b>bold</b>",
    'NEAR(a b) "quoted" AND OR NOT * ^prefix col:value',
    "emoji 🚀🧪 and a family 👩‍👩‍👧",
    "RTL שלום עולם مرحبا \u202eoverride\u202c",
    "zero\u200bwidth\u200cjoin\u200dchars\ufeffbom",
]

# Knowledge-base entities with hostile names, aliases and descriptions: (kb id, name, type, aliases, description).
KB = [
    ("Q1", "O'Brien", "PERSON", ["Conan O'Brien", "O’Brien"], 'an "Irish" name; DROP TABLE aliases; --'),
    ("Q2", "Procter & Gamble", "ORG", ["P&G", "Procter &amp; Gamble"], "soap & <i>candles</i>"),
    ("Q3", "Robert'); DROP TABLE entities;--", "PERSON", ["Little Bobby Tables"], "xkcd 327"),
    ("Q4", "<b>Bold</b> Corp", "ORG", ["Bold Corp"], "<script>alert('desc')</script>"),
    ("Q5", "100% _Real_ \\Corp\\", "ORG", [], "LIKE wildcards % and _"),
    ("Q6", 'NEAR(a b) "quoted" AND OR NOT *', "MISC", ['"quoted"'], "FTS5 syntax"),
    ("Q7", "שלום Ltd", "ORG", [], "right to left"),
    ("Q8", "Zero\u200bWidth Inc", "ORG", [], "zero\u200bwidth"),
    ("Q9", "Émoji 🚀 Labs", "ORG", [], "🚀"),
]

# jsonl records: ids and titles are hostile too; each text also names KB entities and a place.
RECORDS = [
    {"id": "'; DROP TABLE documents; --", "title": '" OR 1=1 -- <i>title</i>',
     "text": "O'Brien met Procter & Gamble executives in Dublin. " + HOSTILE[0]},
    {"id": 'r"2"\\', "title": "Robert'); DROP TABLE entities;-- & friends",
     "text": "Robert'); DROP TABLE entities;-- joined <b>Bold</b> Corp in Paris. " + " ".join(HOSTILE[1:5])},
    {"id": "<r3>", "title": "NEAR(a b) AND OR NOT *",
     "text": "Marie Curie was born in Warsaw. " + " ".join(HOSTILE[5:8]) + ' NEAR(a b) "quoted" AND OR NOT * met her.'},
    {"id": "%_r4", "title": "שלום 🚀 \u200b",
     "text": "שלום Ltd hired Émoji 🚀 Labs and Zero\u200bWidth Inc in Tel Aviv. " + " ".join(HOSTILE[8:])},
]
LONG_TEXT = " ".join(f"Paragraph {i}: {h} Marie Curie worked in Paris." for i, h in enumerate(HOSTILE * 6))
TXT_NAME = "O'Brien & \"Co\" <b>notes<b> 100%_x;--.txt"
TXT_TITLE = "'; DROP TABLE documents; -- <title>"
TXT_BODY = "Pierre Curie & O'Brien said \"hi\" in Paris.\n" + "\n".join(HOSTILE)
HTML = ("<html><head><title>Procter &amp; Gamble &lt;b&gt;</title></head><body><p>Procter &amp; Gamble sold soap "
        "in &quot;Cincinnati&quot;. &lt;script&gt;alert(1)&lt;/script&gt; stays text; &amp;amp; is an ampersand and "
        "amp.</p><script>alert('never')</script></body></html>")
HTML_TEXT = ("Procter & Gamble sold soap in \"Cincinnati\". <script>alert(1)</script> stays text; &amp; is an "
             "ampersand and amp.")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    d = tmp_path_factory.mktemp("injection")
    kb = write(d, "kb.jsonl", "\n".join(json.dumps({"id": k, "name": n, "type": t, "aliases": a, "description": s},
                                                    ensure_ascii=False) for k, n, t, a, s in KB))
    corpus = write(d / "docs", "records.jsonl", "\n".join(json.dumps(r, ensure_ascii=False) for r in RECORDS))
    long = write(d / "docs", "long.txt", LONG_TEXT)
    txt = write(d / "docs", TXT_NAME, f"{TXT_TITLE}\n\n{TXT_BODY}\n")
    html = write(d / "docs", "page.html", HTML)
    kg = KnowledgeGraph(d / "kg.db")
    kb_report = kg.import_kb(kb)
    report = kg.ingest([d / "docs"])
    yield {"kg": kg, "db": kg.path, "dir": d, "kb_report": kb_report, "report": report,
           "sources": {f"{corpus.resolve()}#{r['id']}": (clean(r["title"]).strip(), clean(r["text"]))
                       for r in RECORDS}
           | {str(long.resolve()): ("long", clean(LONG_TEXT)), str(txt.resolve()): (TXT_TITLE, clean(TXT_BODY)),
              str(html.resolve()): ("Procter & Gamble <b>", HTML_TEXT)}}
    kg.close()


def test_everything_was_stored_without_error(store: Any) -> None:
    assert (store["kb_report"].created, store["kb_report"].errors) == (len(KB), [])
    assert store["report"].errors == []
    assert store["report"].documents == len(store["sources"])


def test_document_text_titles_and_sources_round_trip_exactly(store: Any) -> None:
    kg, db, sources = store["kg"], store["db"], store["sources"]
    assert {d.source: d.title for d in kg.documents()} == {s: title for s, (title, _) in sources.items()}
    for source, (_, text) in sources.items():
        (doc_id, n_chars), = rows(db, "SELECT id, n_chars FROM documents WHERE source = ?", (source,))
        assert n_chars == len(text)
        chunks = rows(db, "SELECT text, start_char, end_char FROM chunks WHERE document_id = ? ORDER BY ord", (doc_id,))
        for chunk, start, end in chunks:
            assert chunk == text[start:end]
        assert chunks[0][1] == 0 and chunks[-1][2] == len(text)
        if len(text) <= 1200:
            assert chunks == [(text, 0, len(text))]
    long_chunks = rows(db, "SELECT count(*) FROM chunks c JOIN documents d ON d.id = c.document_id "
                           "WHERE d.source LIKE '%long.txt'")
    assert long_chunks[0][0] > 2


def test_every_hostile_string_is_found_verbatim_in_the_stored_chunks(store: Any) -> None:
    for h in map(clean, HOSTILE):  # invisible bidi and zero-width characters are cleaned at load time
        n = rows(store["db"], "SELECT count(*) FROM chunks WHERE instr(text, ?) > 0", (h,))[0][0]
        assert n >= 2, h  # the .txt file and the long document hold each of them


def test_entities_with_quotes_and_markup_resolve_by_their_exact_names(store: Any) -> None:
    kg, db = store["kg"], store["db"]
    for kb_id, name, typ, aliases, description in KB:
        ((eid, stored_name, stored_desc),) = rows(db, "SELECT id, name, description FROM entities WHERE kb_id = ?",
                                                  (kb_id,))
        assert (stored_name, stored_desc) == (name, description)
        assert kg.resolve(name)[0] == eid, name
        card = kg.entity(name)
        assert (card.id, card.name, card.type, card.kb_id, card.description) == (eid, name, typ, kb_id, description)
        for alias in aliases:
            assert eid in kg.resolve(alias), (name, alias)
        for m in card.mentions:  # each mention's snippet brackets the exact surface
            assert f"[{m.surface}]" in m.snippet
    for name in ("O'Brien", "Procter & Gamble", "Robert'); DROP TABLE entities;--"):
        assert name in {m.surface for m in kg.entity(name).mentions}, name
    # LIKE wildcards and quotes are literal: a pattern finds only what equals it (as a name, or normalised as an
    # alias), never what it would match as a wildcard.
    for pattern in ("%", "_", "%Corp%", "O'%", "%Brien", "' OR '1'='1", '" OR ""="', "*"):
        equal = {i for (i,) in rows(db, "SELECT id FROM entities WHERE merged_into_id IS NULL AND (name = ? OR id IN "
                                        "(SELECT entity_id FROM aliases WHERE norm = ?))",
                                    (pattern, normalize(pattern)))}
        assert set(kg.resolve(pattern)) == equal, pattern
    assert kg.resolve("%") == kg.resolve("_") == kg.resolve("%Brien") == []


@pytest.mark.parametrize("mode", ["sparse", "graph", "hybrid"])
def test_search_with_metacharacter_and_fts_queries_works(store: Any, mode: str) -> None:
    kg, db = store["kg"], store["db"]
    stored = {i: (t, a, b) for i, t, a, b in rows(db, "SELECT id, text, start_char, end_char FROM chunks")}
    for query in [*HOSTILE, "O'Brien", '"', "'", "*", "AND", "NOT NOT", "NEAR(", ")(", "\\", "%", "_", "--", ";",
                  "' OR 1=1; --"]:
        results = kg.search(query, k=5, mode=mode)
        assert isinstance(results, list), query
        for r in results:
            assert stored[r.chunk_id] == (r.text, r.start_char, r.end_char)
    top = kg.search("O'Brien Procter & Gamble Dublin", k=3, mode=mode)
    assert top and top[0].source.endswith("#'; DROP TABLE documents; --") and "O'Brien met" in top[0].text


@pytest.mark.parametrize("fmt", ["graphml", "json", "gexf"])
def test_exported_graph_keeps_every_name_exactly(store: Any, fmt: str, tmp_path: Path) -> None:
    kg, db = store["kg"], store["db"]
    out = tmp_path / f"graph.{fmt}"
    info = kg.export(out, fmt)
    g = read_graph(out, fmt)
    names = sorted(name for _, name in g.nodes(data="name"))
    assert names == sorted(n for (n,) in rows(db, "SELECT name FROM entities WHERE merged_into_id IS NULL"))
    assert {name for _, name, *_ in KB} <= set(names)
    assert info.nodes == g.number_of_nodes()


def test_cli_round_trips_hostile_names(store: Any) -> None:
    db = str(store["db"])
    for _, name, *_ in KB[:4]:
        r = CliRunner().invoke(cli, ["entity", name, "--db", db, "--json"], env={"KG_DB": None}, prog_name="kg")
        assert r.exit_code == 0, (r.output, r.exception)
        assert json.loads(r.stdout)["name"] == name
    r = CliRunner().invoke(cli, ["search", "'; DROP TABLE documents; -- \"quoted\" NEAR(a b)", "--db", db, "--json"],
                           env={"KG_DB": None}, prog_name="kg")
    assert r.exit_code == 0 and "Traceback" not in r.output, (r.output, r.exception)


def test_every_table_still_exists_and_the_file_is_consistent(store: Any) -> None:
    db = store["db"]
    tables = {n for (n,) in rows(db, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert set(TABLES) <= tables
    for table in ("documents", "chunks", "entities", "aliases", "mentions"):
        assert rows(db, f"SELECT count(*) FROM {table}")[0][0] > 0, table
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]
    assert rows(db, "PRAGMA foreign_key_check") == []
