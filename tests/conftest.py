"""Shared fixtures: real spaCy, real SQLite files, real documents.

The bundled sample corpus is ingested once per session into a temporary database that read-only tests share
(``sample_kg``); a test that changes a store builds its own with ``make_kg``. The spaCy model loads in about a
third of a second, so a test that needs its own extractor simply gets a fresh ``KnowledgeGraph``.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the project is used from its checkout, not installed
    sys.path.insert(0, str(ROOT))

from kg.api import KGConfig, KnowledgeGraph  # noqa: E402

SAMPLE = ROOT / "kg" / "sample"
KB_SAMPLE = ROOT / "kg" / "kb_sample.jsonl"
SAMPLE_FILES = 20  # 19 single-document files and one jsonl of 4 records; ABOUT has no extension
SAMPLE_DOCS = 23

# Every table with the columns that identify a row's content (created_at left out: it is a clock reading).
TABLES = {
    "documents": "id, source, title, content_hash, metadata, n_chars, about_entity_id, title_names_entity",
    "chunks": "id, document_id, ord, text, start_char, end_char",
    "entities": "id, name, type, description, kb_id, merged_into_id",
    "aliases": "id, entity_id, alias, norm, source, chunk_id, local_id",
    "mentions": 'id, chunk_id, entity_id, start, "end", surface, label, source, confidence, sent_start, sent_end, '
                "local_id",
    "relations": "id, head_id, tail_id, predicate, weight",
    "relation_evidence": "id, relation_id, chunk_id, head_mention_id, tail_mention_id, predicate, sent_start, sent_end",
    "merge_log": "id, action, kept_id, merged_id, kept_name, merged_name, moved, undone",
    "chunk_vectors": "chunk_id, encoder, terms, weights",
    "chunk_embeddings": "chunk_id, encoder, vector",
    "entity_embeddings": "entity_id, encoder, text, vector",
    "local_entities": "id, document_id, name, norm, type, description, is_title, entity_id",
    "document_names": "document_id, name",
    "relink_queue": "document_id",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true", help="Also run the deeper tests marked slow.")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="deeper run: give --slow to include it")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def rows(db_path: str | Path, query: str, params: tuple = ()) -> list[tuple]:
    """Rows of a query on a plain sqlite3 connection, independent of the code under test."""
    con = sqlite3.connect(str(db_path))
    try:
        return [tuple(r) for r in con.execute(query, params)]
    finally:
        con.close()


def snapshot(db_path: str | Path) -> dict[str, list[tuple]]:
    """Every row of every table, sorted: two equal snapshots mean two equal stores."""
    return {t: sorted(rows(db_path, f"SELECT {cols} FROM {t}"), key=repr) for t, cols in TABLES.items()}


def write(folder: Path, name: str, text: str | bytes) -> Path:
    p = folder / name
    p.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8")
    return p


@pytest.fixture(scope="session")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KnowledgeGraph, object]]:
    path = tmp_path_factory.mktemp("sample") / "sample.db"
    kg = KnowledgeGraph(path, KGConfig())
    report = kg.ingest([SAMPLE])
    yield kg, report
    kg.close()


@pytest.fixture(scope="session")
def sample_kg(sample_db: tuple[KnowledgeGraph, object]) -> KnowledgeGraph:
    """The sample corpus, ingested once. Read-only: do not ingest, merge or import into it."""
    return sample_db[0]


@pytest.fixture(scope="session")
def sample_report(sample_db: tuple[KnowledgeGraph, object]):  # type: ignore[no-untyped-def]
    return sample_db[1]


@pytest.fixture
def make_kg(tmp_path: Path) -> Iterator[Callable[..., KnowledgeGraph]]:
    """A factory of fresh knowledge graphs on their own files under this test's tmp_path."""
    made: list[KnowledgeGraph] = []

    def make(name: str = "kg.db", config: KGConfig | None = None) -> KnowledgeGraph:
        kg = KnowledgeGraph(tmp_path / name, config or KGConfig())
        made.append(kg)
        return kg

    yield make
    for kg in made:
        kg.close()


def read_graph(path: Path, fmt: str) -> Any:
    """An exported graph read back with networkx, whatever the format."""
    import json

    import networkx as nx

    if fmt == "graphml":
        return nx.read_graphml(path)
    if fmt == "gexf":
        return nx.read_gexf(path)
    return nx.node_link_graph(json.loads(path.read_text(encoding="utf-8")), edges="links")
