"""What a store's contents were made with: the settings that shape chunks, entities and vectors, recorded at
the first ingest, so that a later ingest or search with other ones is refused rather than mixing them."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Connection

# Settings an ingest makes chunks and entities with, and the one the chunks' word-piece vectors come from.
CONTENT = ("chunk.size", "chunk.overlap", "extract.model")
ENCODER = "retrieve.sparse_encoder"


def recorded(conn: Connection) -> dict[str, str]:
    return {k: v for k, v in conn.exec_driver_sql("SELECT key, value FROM store_settings")}


def differences(conn: Connection, wanted: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """(setting, what the store has, what is wanted) for each recorded setting that differs."""
    have = recorded(conn)
    return [(k, have[k], v) for k, v in wanted.items() if k in have and have[k] != v]


def record(conn: Connection, values: Mapping[str, str]) -> None:
    conn.exec_driver_sql("INSERT OR REPLACE INTO store_settings (key, value) VALUES (?, ?)",
                         [(k, str(v)) for k, v in values.items()])
