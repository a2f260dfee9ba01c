"""Opening a store: the SQLite engine with WAL, foreign keys and a busy timeout, migrated by Alembic."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session

MIGRATIONS = Path(__file__).parent / "migrations"
BUSY_TIMEOUT_MS = 30_000


def make_engine(path: str | Path) -> Engine:
    """An engine whose transactions SQLite sees as real BEGINs, so writers can take the lock up front."""
    url = "sqlite://" if str(path) == ":memory:" else f"sqlite:///{Path(path)}"
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        # Let SQLAlchemy, not the driver, decide when transactions begin (see the "begin" hook).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (a no-op when it is already there)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        conn.commit()


class Database:
    """A migrated SQLite file with helpers for read sessions and short write transactions."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.engine = make_engine(self.path)
        migrate(self.engine)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self.engine) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One IMMEDIATE transaction: it commits on success and rolls back wholly on any error."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            with Session(bind=conn) as session, session.begin():
                yield session

    def batch(self, max_items: int = 100, max_seconds: float = 1.0) -> BatchWriter:
        return BatchWriter(self, max_items, max_seconds)

    def close(self) -> None:
        self.engine.dispose()


class BatchWriter:
    """Many documents per commit, each in its own SAVEPOINT: a failed item rolls back alone and whole.

    Commits every ``max_items`` items or ``max_seconds``, whichever comes first, so the write lock is never
    held for long; ``close`` commits the finished items. Readers on other connections see items once committed.
    """

    def __init__(self, db: Database, max_items: int = 100, max_seconds: float = 1.0):
        self.db, self.max_items, self.max_seconds = db, max_items, max_seconds
        self._conn: Connection | None = None
        self._session: Session | None = None
        self._n = 0
        self._since = 0.0

    def _open(self) -> Session:
        if self._session is None:
            self._conn = self.db.engine.connect().execution_options(sqlite_begin="IMMEDIATE")
            self._session = Session(bind=self._conn)
            self._session.begin()
            self._n, self._since = 0, time.monotonic()
        return self._session

    @contextmanager
    def item(self) -> Iterator[Session]:
        session = self._open()
        with session.begin_nested():
            yield session
        self._n += 1
        if self._n >= self.max_items or time.monotonic() - self._since >= self.max_seconds:
            self.commit()

    def commit(self) -> None:
        """Make every finished item durable and release the write lock."""
        if self._session is None:
            return
        try:
            self._session.commit()
        finally:
            self._session.close()
            self._conn.close()  # type: ignore[union-attr]
            self._session = self._conn = None

    def close(self) -> None:
        self.commit()

    def __enter__(self) -> BatchWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
