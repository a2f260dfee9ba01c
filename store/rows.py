"""Row-level helpers the writers share: the raw cursor, batches of ids, ids handed out in a transaction, plain
inserts."""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from sqlalchemy import Connection, Table

from store.schema import Alias, Chunk, Document, Entity, Mention, Relation, RelationEvidence

_MODELS = (Alias, Chunk, Document, Entity, Mention, Relation, RelationEvidence)
TABLES: dict[type, Table] = {m: cast(Table, m.__table__) for m in _MODELS}


class Ids:
    """Row ids handed out inside one write transaction.

    Writes run under SQLite's IMMEDIATE lock, so no other writer can take an id between reading the current
    maxima and inserting; explicit ids let every table go in with one ``executemany`` and no RETURNING.
    """

    def __init__(self, conn: Connection, models: tuple[type, ...]):
        sql = "SELECT " + ", ".join(f"(SELECT coalesce(max(id), 0) FROM {TABLES[m].name})" for m in models)
        self.next = {m: n + 1 for m, n in zip(models, conn.exec_driver_sql(sql).one())}

    def take(self, model: type, n: int) -> list[int]:
        start = self.next[model]
        self.next[model] = start + n
        return list(range(start, start + n))


# Inserts go straight to the driver's executemany, with each column's SQLAlchemy bind processor (JSON,
# timestamps) applied by hand: the Core insert construct costs more per call than the rows themselves.
def _plain_insert(table_name: str, cols: list[str]) -> str:
    quoted = ", ".join(f'"{c}"' for c in cols)
    return f"INSERT INTO {table_name} ({quoted}) VALUES ({', '.join('?' * len(cols))})"


_COLUMNS = {m: [c.name for c in TABLES[m].columns] for m in _MODELS}
_SQL: dict[type, tuple[list[str], str]] = {m: (cols, _plain_insert(TABLES[m].name, cols))
                                          for m, cols in _COLUMNS.items()}
_PROCESSORS: dict[tuple[type, str], list] = {}


def insert_rows(conn: Connection, model: type, rows: list[dict]) -> None:
    if not rows:
        return
    cols, sql = _SQL[model]
    key = (model, conn.dialect.name)
    if key not in _PROCESSORS:
        dialect = conn.dialect
        _PROCESSORS[key] = [c.type.dialect_impl(dialect).bind_processor(dialect) for c in TABLES[model].columns]
    procs = _PROCESSORS[key]
    conn.exec_driver_sql(sql, [tuple(v if p is None or v is None else p(v)
                                     for p, v in zip(procs, (r.get(c) for c in cols))) for r in rows])


def raw_cursor(conn: Connection):  # type: ignore[no-untyped-def]
    """The sqlite3 cursor of this connection's transaction: the hot paths skip SQLAlchemy's per-statement cost."""
    return conn.connection.driver_connection.cursor()  # type: ignore[union-attr]


def batched(ids: list, size: int = 500) -> Iterable[list]:
    """Slices of at most ``size`` ids: SQLite takes a bounded number of parameters per statement."""
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


def marks(n: int) -> str:
    return ",".join("?" * n)
