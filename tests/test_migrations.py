"""store.migrations: Alembic builds exactly the schema that store.schema declares."""

from __future__ import annotations

import json
import subprocess
import sys
from argparse import Namespace
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from conftest import ROOT, rows
from sqlalchemy import Engine

from store.db import MIGRATIONS, Database, make_engine, migrate
from store.schema import Base

TABLES = {"documents", "chunks", "entities", "aliases", "mentions", "relations", "relation_evidence", "merge_log",
          "chunk_vectors", "chunk_embeddings", "entity_embeddings", "local_entities", "document_names", "relink_queue",
          "index_state", "index_changes", "local_entity_counts", "name_keys", "name_redirects",
          "fusion_vetoes", "fusion_pins", "store_settings"}
FTS = "chunks_fts"  # the full-text index over chunk text: a virtual table with its shadow tables, not a model


def model_diffs(ctx: MigrationContext) -> list:
    """Differences between the migrated schema and the models, leaving out the full-text index, and foreign
    keys that SQLite reflection reads without their ON DELETE when ALTER TABLE added the column."""
    out = []
    for d in compare_metadata(ctx, Base.metadata):
        if d[0] == "remove_table" and d[1].name.startswith(FTS):
            continue
        if d[0] in ("remove_fk", "add_fk") and [c.name for c in d[1].columns] == ["local_id"]:
            continue
        out.append(d)
    return out


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


@contextmanager
def engine_at(path: Path) -> Iterator[Engine]:
    engine = make_engine(path)
    try:
        yield engine
    finally:
        engine.dispose()


def head() -> str:
    (rev,) = ScriptDirectory.from_config(alembic_config()).get_heads()
    return rev


def tables(db: Path) -> set[str]:
    return {n for (n,) in rows(db, "SELECT name FROM sqlite_master WHERE type = 'table'")
            if not n.startswith(FTS)} - {"alembic_version"}


def test_upgrade_head_on_an_empty_file_matches_the_models(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    with engine_at(path) as engine:
        migrate(engine)
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn)
            assert model_diffs(ctx) == []
            assert ctx.get_current_revision() == head()
    assert rows(path, "SELECT version_num FROM alembic_version") == [(head(),)]
    assert tables(path) == TABLES == set(Base.metadata.tables)
    # Indexes and constraints come from the migration too, not only the tables.
    indexes = {n for (n,) in rows(path, "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'ix_%'")}
    assert {"ix_aliases_entity_norm", "ix_mentions_entity_chunk", "ix_documents_content_hash"} <= indexes


def test_opening_a_migrated_store_again_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "kg.db"
    db = Database(path)
    with db.write() as s:
        s.connection().exec_driver_sql("INSERT INTO entities (name, type, created_at) VALUES ('Warsaw', 'GPE', "
                                       "'2024-01-01 00:00:00')")
    db.close()
    db = Database(path)  # migrate() again: a no-op at head
    db.close()
    assert rows(path, "SELECT name, type FROM entities") == [("Warsaw", "GPE")]
    assert rows(path, "SELECT version_num FROM alembic_version") == [(head(),)]


def test_downgrade_to_base_and_upgrade_again(tmp_path: Path) -> None:
    path = tmp_path / "kg.db"
    cfg = alembic_config()
    with engine_at(path) as engine:
        with engine.connect() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            command.downgrade(cfg, "base")
            conn.commit()
        assert tables(path) == set()
        assert rows(path, "SELECT count(*) FROM alembic_version") == [(0,)]
        migrate(engine)
        assert tables(path) == TABLES


def test_command_line_style_upgrade_with_a_db_argument(tmp_path: Path) -> None:
    """env.py without a handed-over connection: ``alembic -x db=PATH upgrade head``."""
    path = tmp_path / "cli.db"
    cfg = alembic_config()
    cfg.cmd_opts = Namespace(x=[f"db={path}"])
    command.upgrade(cfg, "head")
    assert tables(path) == TABLES
    assert rows(path, "SELECT version_num FROM alembic_version") == [(head(),)]


def test_a_store_from_before_the_index_tables_upgrades_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    cfg = alembic_config()
    with engine_at(path) as engine:
        with engine.connect() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0001")
            conn.exec_driver_sql("INSERT INTO entities (id, name, type, created_at) VALUES (1, 'Warsaw', 'GPE', "
                                 "'2026-01-01 00:00:00')")
            conn.commit()
        assert "chunk_vectors" not in tables(path)
        migrate(engine)
    assert tables(path) == TABLES
    assert rows(path, "SELECT name FROM entities") == [("Warsaw",)]


def test_local_id_foreign_keys_cascade(tmp_path: Path) -> None:
    path = tmp_path / "kg.db"
    Database(path).close()
    for table in ("mentions", "aliases"):
        fks = {r[3]: (r[2], r[6]) for r in rows(path, f"PRAGMA foreign_key_list({table})")}
        assert fks["local_id"] == ("local_entities", "CASCADE")


def test_a_store_from_before_local_entities_upgrades_with_one_local_per_document_entity(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    cfg = alembic_config()
    with engine_at(path) as engine:
        with engine.connect() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0002")
            for sql in [
                "INSERT INTO entities (id, name, type, created_at) VALUES (1, 'Warsaw', 'GPE', '2026-01-01')",
                "INSERT INTO entities (id, name, type, created_at) VALUES (2, 'Poland', 'GPE', '2026-01-01')",
                "INSERT INTO documents (id, source, title, content_hash, metadata, n_chars, about_entity_id, "
                "created_at) VALUES (1, 'a.txt', 'Warsaw', 'h', '{}', 30, 1, '2026-01-01')",
                "INSERT INTO chunks (id, document_id, ord, text, start_char, end_char) "
                "VALUES (1, 1, 0, 'Warsaw is in Poland. Warsaw.', 0, 28)",
                "INSERT INTO aliases (id, entity_id, alias, norm, source, chunk_id) "
                "VALUES (1, 1, 'Warsaw', 'warsaw', 'mention', 1)",
                "INSERT INTO mentions (id, chunk_id, entity_id, start, \"end\", surface, label, source, confidence, "
                "sent_start, sent_end) VALUES (1, 1, 1, 0, 6, 'Warsaw', 'GPE', 'ner', 1, 0, 20), "
                "(2, 1, 2, 13, 19, 'Poland', 'GPE', 'ner', 1, 0, 20), "
                "(3, 1, 1, 21, 27, 'Warsaw', 'GPE', 'ner', 1, 21, 28)",
            ]:
                conn.exec_driver_sql(sql)
            conn.commit()
        migrate(engine)
    assert rows(path, "SELECT document_id, name, norm, is_title, entity_id FROM local_entities ORDER BY id") == [
        (1, "Warsaw", "warsaw", 1, 1), (1, "Poland", "poland", 0, 2)]
    assert rows(path, "SELECT id, local_id FROM mentions ORDER BY id") == [(1, 1), (2, 2), (3, 1)]
    assert rows(path, "SELECT local_id FROM aliases") == [(1,)]
    assert rows(path, "SELECT name FROM document_names ORDER BY name") == [("Poland",), ("Warsaw",)]
    assert rows(path, "SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH 'poland'") == [(1,)]


def test_alembic_check_is_clean_on_a_fresh_store(tmp_path: Path) -> None:
    """``alembic check`` compares the models with the store and finds nothing to do: the full-text index and the
    foreign keys SQLite reflection misreads are left out by the environment's filter."""
    path = tmp_path / "fresh.db"
    with engine_at(path) as engine:
        migrate(engine)
        with engine.connect() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.check(cfg)  # raises AutogenerateDiffsDetected on any difference
    assert rows(path, "SELECT DISTINCT \"on_delete\" FROM pragma_foreign_key_list('mentions') "
                      "WHERE \"from\" = 'local_id'") == [("CASCADE",)]
    r = subprocess.run([sys.executable, "-m", "alembic", "-c", str(ROOT / "alembic.ini"), "-x", f"db={path}", "check"],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "No new upgrade operations detected" in r.stdout + r.stderr


def test_sqlite_utils_finds_and_searches_the_full_text_index(sample_kg) -> None:  # type: ignore[no-untyped-def]
    import sqlite_utils

    db = sqlite_utils.Database(str(sample_kg.path))
    try:
        assert db["chunks"].detect_fts() == "chunks_fts"
        hits = list(db["chunks"].search("Radium", columns=["id", "text"]))
        assert hits and all("radium" in h["text"].lower() for h in hits)
    finally:
        db.close()
    r = subprocess.run([sys.executable, "-m", "sqlite_utils", "search", str(sample_kg.path), "chunks", "Radium",
                        "-c", "id"], capture_output=True, text=True)
    assert r.returncode == 0 and json.loads(r.stdout), r.stderr
