"""Opening a store: read-only readers, one migrating writer at a time, and clear errors for files that are
read-only, damaged, out of date or another program's.

Readers never write: they open the file with ``mode=ro`` (``immutable=1`` when the file cannot be written
and holds no write-ahead log, as on read-only media, so no ``-shm``/``-wal`` file is created) and never change
the journal mode or the schema. Only a writer (``Database(path)``) creates a store, switches it
to WAL and runs the Alembic migrations, and a writer takes the store's writer lock for each change, so
concurrent write commands run one after the other.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.pool import QueuePool, StaticPool

MIGRATIONS = Path(__file__).parent / "migrations"
BUSY_TIMEOUT_MS = 30_000
SCHEMA_HEAD = "0008"  # the newest Alembic revision in migrations/versions (a test keeps them in step)
# Tables every kg store has; a file with other tables and none of these belongs to another program.
KG_TABLES = frozenset({"alembic_version", "documents", "chunks", "entities", "mentions"})


class StoreError(Exception):
    """A store that cannot be used as asked; ``str()`` is one line saying why and what to do."""


class NotAStore(StoreError):
    pass


class ReadOnlyStore(StoreError):
    pass


class DamagedStore(StoreError):
    pass


class OutdatedStore(StoreError):
    pass


def damaged(path: str | Path, detail: str) -> DamagedStore:
    return DamagedStore(f"{path} is damaged ({detail}). Check it with: sqlite3 '{path}' 'PRAGMA integrity_check' "
                        "- then restore it from a backup, or rebuild it with kg ingest into a new file")


_DAMAGE = ("malformed", "not a database", "file is encrypted", "database corrupt", "disk image")
_READ_ONLY = ("readonly database", "read-only", "attempt to write a readonly")


def store_error(e: BaseException, path: str | Path) -> StoreError | None:
    """The user-facing error an SQLite failure (anywhere in ``e``'s chain of causes) stands for, if any."""
    seen: set[int] = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, StoreError):
            return cur
        if isinstance(cur, DBAPIError) and cur.orig is not None:
            cur = cur.orig
            continue
        if isinstance(cur, sqlite3.DatabaseError):
            msg = str(cur)
            if any(k in msg.lower() for k in _DAMAGE):
                return damaged(path, msg)
            if any(k in msg.lower() for k in _READ_ONLY):
                return ReadOnlyStore(f"{path} is read-only ({msg}); kg can search it but not change it")
            if "unable to open" in msg.lower():
                return StoreError(f"cannot open {path} ({msg}); check the path and its permissions")
            return None
        cur = cur.__cause__ or cur.__context__
    return None


def _on_connect(pragmas: list[str]) -> Callable[..., None]:
    def connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        # Let SQLAlchemy, not the driver, decide when transactions begin (see the "begin" hook).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        for pragma in pragmas:
            cur.execute(pragma)
        cur.close()
    return connect


def _on_begin(conn: Connection) -> None:
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


def make_engine(path: str | Path) -> Engine:
    """A writer's engine: WAL, foreign keys, a busy timeout, and transactions SQLite sees as real BEGINs, so
    writers can take the lock up front."""
    memory = str(path) == ":memory:"
    url = "sqlite://" if memory else f"sqlite:///{Path(path)}"
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
                           **({"poolclass": StaticPool} if memory else {}))
    event.listen(engine, "connect", _on_connect([
        "PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON",
        f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}"]))
    event.listen(engine, "begin", _on_begin)
    return engine


def _has_wal(path: Path) -> bool:
    try:
        return os.path.getsize(f"{path}-wal") > 0
    except OSError:
        return False


def can_write(path: Path) -> bool:
    """Whether this process may change the file (and create the journal files beside it)."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)


def make_reader(path: str | Path) -> Engine:
    """A reader's engine: ``mode=ro``, and ``immutable=1`` where the file cannot be written and has no write-ahead
    log (read-only media), so reading never creates a ``-shm`` or ``-wal`` file."""
    p = Path(path)
    immutable = not can_write(p) and not _has_wal(p)
    uri = f"file:{quote(str(p.resolve()))}?mode=ro" + ("&immutable=1" if immutable else "")

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)

    # A file-backed pool: the "sqlite://" URL would otherwise get the one-connection-per-thread pool meant for
    # in-memory databases, and two sessions open at once in one thread would share a transaction.
    engine = create_engine("sqlite://", creator=connect, poolclass=QueuePool)
    event.listen(engine, "connect", _on_connect(["PRAGMA foreign_keys=ON", f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}"]))
    event.listen(engine, "begin", _on_begin)
    return engine


def _tables(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return {n for (n,) in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'")}


def schema_version(engine: Engine) -> str | None:
    """The store's Alembic revision, or None for a file with no kg schema."""
    with engine.connect() as conn:
        if not conn.exec_driver_sql(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'").first():
            return None
        return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


_MAGIC = b"SQLite format 3\x00"


def check_store(engine: Engine, path: Path, *, empty_ok: bool) -> str | None:
    """The schema revision of a kg store; NotAStore for another program's database (left untouched)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(len(_MAGIC))
    except OSError as e:
        raise StoreError(f"cannot read {path} ({e.strerror or e})") from None
    if head and head != _MAGIC:
        raise NotAStore(f"{path} is not a kg store (not an SQLite database); give a new file name, or a store a kg "
                        "command created")
    try:
        tables = _tables(engine)
    except DBAPIError as e:
        raise store_error(e, path) or NotAStore(
            f"{path} is not a kg store ({e.orig or e}); give a new file name, or a store a kg command created"
        ) from None
    kg_tables = tables & KG_TABLES
    if not tables:
        if empty_ok:
            return None
        raise NotAStore(f"{path} is an empty SQLite file, not a kg store; build one with: kg ingest PATH --db {path}")
    if kg_tables != KG_TABLES and not ("alembic_version" in tables and kg_tables == {"alembic_version"}):
        shown = ", ".join(sorted(tables)[:5]) + (", …" if len(tables) > 5 else "")
        raise NotAStore(f"{path} is another program's SQLite database (tables: {shown}), not a kg store; kg leaves "
                        "it unchanged. Give a new file name for the store.")
    return schema_version(engine)


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


def _create(path: Path) -> None:
    """Build a new store beside ``path`` and move it into place whole, so that a reader never opens a store
    whose schema is half made; if another process got there first, its store is kept."""
    tmp = path.parent / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.new"
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))  # the mode a plain new file gets
    try:
        engine = make_engine(tmp)
        try:
            migrate(engine)
        finally:
            engine.dispose()
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)  # unlike rename, never replaces a store that appeared meanwhile
    finally:
        for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            leftover.unlink(missing_ok=True)


# -- the writer lock ----------------------------------------------------------------------------------------------
class _FileLock:
    """An exclusive ``flock`` on the store file, shared by every Database of this process on that file.

    ``flock`` locks are separate from the POSIX locks SQLite takes, but closing any descriptor of a file drops
    a process's POSIX locks on it, so the descriptor stays open until the last Database on the file closes.
    """

    _all: dict[tuple[int, int], _FileLock] = {}
    _guard = threading.Lock()

    def __init__(self, fd: int, key: tuple[int, int]):
        self.fd, self.key, self.users = fd, key, 0
        self.thread_lock = threading.RLock()
        self.depth = 0

    @classmethod
    def acquire_for(cls, path: Path) -> _FileLock:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        st = os.fstat(fd)
        key = (st.st_dev, st.st_ino)
        with cls._guard:
            lock = cls._all.get(key)
            if lock is None:
                lock = cls._all[key] = _FileLock(fd, key)
            else:
                os.close(fd)
            lock.users += 1
        return lock

    def release_user(self) -> None:
        with self._guard:
            self.users -= 1
            if self.users == 0:
                del self._all[self.key]
                os.close(self.fd)

    @contextmanager
    def hold(self, on_wait: Callable[[], None] | None) -> Iterator[None]:
        with self.thread_lock:
            if self.depth == 0:
                try:
                    fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError as e:
                    if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                        raise
                    if on_wait is not None:
                        on_wait()
                    fcntl.flock(self.fd, fcntl.LOCK_EX)
            self.depth += 1
            try:
                yield
            finally:
                self.depth -= 1
                if self.depth == 0:
                    fcntl.flock(self.fd, fcntl.LOCK_UN)


class Database:
    """A kg store in one SQLite file, opened for writing (the default) or for reading.

    A writer creates the file if needed and migrates it; ``exclusive()`` is the writer lock that makes
    concurrent write commands take turns. A reader (``writable=False``) needs an up-to-date kg store and never
    writes.
    """

    def __init__(self, path: str | Path, *, writable: bool = True):
        self.path = Path(path)
        self.writable = writable
        self._lock: _FileLock | None = None
        memory = str(path) == ":memory:"
        if writable:
            if not memory:
                self._check_writable()
                if not self.path.exists():
                    _create(self.path)
                if self.path.exists():  # look before the writer's engine switches the file to WAL
                    probe = make_reader(self.path)
                    try:
                        check_store(probe, self.path, empty_ok=True)
                    finally:
                        probe.dispose()
            self.engine = make_engine(self.path)
            try:
                migrate(self.engine)
            except DBAPIError as e:
                self.engine.dispose()
                raise store_error(e, self.path) or e from None
            except BaseException:
                self.engine.dispose()
                raise
            if not memory:
                self._lock = _FileLock.acquire_for(self.path)
        else:
            self.engine = make_reader(self.path)
            try:
                version = check_store(self.engine, self.path, empty_ok=False)
            except BaseException:
                self.engine.dispose()
                raise
            if version != SCHEMA_HEAD:
                self.engine.dispose()
                raise OutdatedStore(f"{self.path} has schema {version or 'none'}, and this kg reads {SCHEMA_HEAD}; "
                                    f"upgrade it with: kg db upgrade --db {self.path}")

    @classmethod
    def empty(cls) -> Database:
        """An empty store in memory: what reading a store that does not exist yet sees."""
        return cls(":memory:", writable=True)

    def _check_writable(self) -> None:
        p = self.path
        if p.exists():
            if not can_write(p):
                what = "the file" if not os.access(p, os.W_OK) else f"its folder {p.parent}"
                raise ReadOnlyStore(f"{p} is read-only ({what} cannot be written); kg can search it but not change "
                                    "it. Copy it somewhere writable to change it.")
        elif not p.parent.is_dir():
            raise StoreError(f"cannot create {p}: folder {p.parent} does not exist")
        elif not os.access(p.parent, os.W_OK | os.X_OK):
            raise ReadOnlyStore(f"cannot create {p}: folder {p.parent} is read-only; give a path in a writable folder")

    @contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self.engine) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One IMMEDIATE transaction: it commits on success and rolls back wholly on any error."""
        if not self.writable:
            raise ReadOnlyStore(f"{self.path} is open for reading only")
        with self.engine.connect() as conn:
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            with Session(bind=conn) as session, session.begin():
                yield session

    @contextmanager
    def exclusive(self, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
        """The store's writer lock: another process's write command waits here until this one is done
        (``on_wait`` is called once if it has to wait). Re-entrant within a process."""
        if self._lock is None:
            yield
            return
        with self._lock.hold(on_wait):
            yield

    def batch(self, max_items: int = 100, max_seconds: float = 1.0) -> BatchWriter:
        return BatchWriter(self, max_items, max_seconds)

    def close(self) -> None:
        self.engine.dispose()
        if self._lock is not None:
            self._lock.release_user()
            self._lock = None


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
