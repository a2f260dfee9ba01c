"""The linking catalog persisted beside the store: a small SQLite file of the alias index's keys, which a search
process opens in milliseconds and answers from with a few indexed reads, instead of building an ``EntityCatalog``
from every entity and alias in the store before its first query.

``CatalogIndex`` gives what ``EntityCatalog.from_rows(*read.catalog_rows(s)).candidates`` gives for the current
store: the file's entities, less those changed since it was built (``hidden``), plus those read afresh (``overlay``).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from itertools import groupby
from pathlib import Path
from typing import NamedTuple, Protocol

from rapidfuzz import fuzz, process

from extract.catalog import MAX_POSTING, Candidate, EntityCatalog
from extract.normalize import acronym, fold_accents, looks_like_acronym, normalize

FORMAT = 1  # PRAGMA user_version of the file
BLOCK, ACRONYM = 1, 2  # sizes.kind: distinct norms of a fuzzy block key, distinct entities of an acronym
_BATCH = 500

_SCHEMA = """
CREATE TABLE names (ref INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE norms (norm TEXT NOT NULL, ref INTEGER NOT NULL, folded TEXT NOT NULL, acronym TEXT,
                    PRIMARY KEY (norm, ref)) WITHOUT ROWID;
CREATE TABLE blocks (key TEXT NOT NULL, words INTEGER NOT NULL, norm TEXT NOT NULL, PRIMARY KEY (key, words, norm))
    WITHOUT ROWID;
CREATE TABLE sizes (kind INTEGER NOT NULL, key TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (kind, key))
    WITHOUT ROWID;
"""
_INDEXES = """
CREATE INDEX norms_ref ON norms (ref);
CREATE INDEX norms_folded ON norms (folded);
CREATE INDEX norms_acronym ON norms (acronym) WHERE acronym IS NOT NULL;
"""


# -- keys, as EntityCatalog.add_alias files them ----------------------------------------------------------------
def block_keys(norm: str) -> set[str]:
    """The fuzzy-matching block keys of a normalised name: its tokens of 3+ letters and their 4-letter prefixes."""
    return {k for tok in norm.split() if len(tok) >= 3 for k in (tok, "~" + tok[:4])}


def entity_keys(name: str, aliases: Iterable[str]) -> dict[str, str | None]:
    """norm -> acronym for an entity's name and aliases; the first spelling of a norm gives its acronym."""
    keys: dict[str, str | None] = {}
    for s in dict.fromkeys((name, *aliases)):
        norm = normalize(s)
        if norm and norm not in keys:
            keys[norm] = acronym(s)
    return keys


def _live_entities(conn: sqlite3.Connection, ids: Iterable[int] | None = None
                   ) -> Iterator[tuple[int, str, str, list[str]]]:
    """(id, name, type, alias strings) per live entity in one read, aliases in the order ``read.catalog_rows``
    yields them (by norm, then row: its DISTINCT scans ix_aliases_entity_norm)."""
    if ids is not None:
        yield from _some_live_entities(conn, sorted(set(ids)))
        return
    query = ("SELECT e.id, e.name, e.type, a.alias FROM entities e LEFT JOIN aliases a ON a.entity_id = e.id "
             "WHERE e.merged_into_id IS NULL ORDER BY e.id, a.norm, a.id")
    for (ref, name, typ), rows in groupby(conn.execute(query), key=lambda r: r[:3]):
        yield ref, name, typ, [r[3] for r in rows if r[3] is not None]


def _some_live_entities(conn: sqlite3.Connection, wanted: list[int]) -> Iterator[tuple[int, str, str, list[str]]]:
    """``_live_entities`` of a few entities: SQLite folds each one's alias rows (one per document that names it,
    so a common name has as many as the corpus has documents about it) into its distinct aliases, still in the
    order of their first row within each norm."""
    for i in range(0, len(wanted), _BATCH):
        part = wanted[i : i + _BATCH]
        marks = ",".join("?" * len(part))
        aliases: dict[int, list[str]] = {}
        for ref, alias in conn.execute(f"SELECT entity_id, alias FROM aliases WHERE entity_id IN ({marks}) "
                                       "GROUP BY entity_id, norm, alias ORDER BY entity_id, norm, min(id)", part):
            aliases.setdefault(ref, []).append(alias)
        for ref, name, typ in conn.execute(f"SELECT id, name, type FROM entities WHERE merged_into_id IS NULL AND "
                                           f"id IN ({marks}) ORDER BY id", part):
            yield ref, name, typ, aliases.get(ref, [])


def overlay_catalog(conn: sqlite3.Connection, ids: Iterable[int]) -> EntityCatalog:
    """An EntityCatalog of just these entities (those still live), for ``CatalogIndex(overlay=...)``; it holds
    names, types and aliases, which is all that ``candidates`` reads."""
    catalog = EntityCatalog()
    for ref, name, typ, aliases in _live_entities(conn, ids):
        catalog.add_entity(ref, name, typ)
        for alias in aliases:
            catalog.add_alias(ref, alias)
    return catalog


# -- building ---------------------------------------------------------------------------------------------------
def build_catalog(conn: sqlite3.Connection, path: Path) -> None:
    """Write the catalog of the store's live entities to ``path`` (a temporary file, then renamed over it).
    ``conn`` is only read."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        out = sqlite3.connect(tmp)
        try:
            _write(conn, out)
        finally:
            out.close()
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # the mode a plain new file gets, not mkstemp's owner-only one
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _write(conn: sqlite3.Connection, out: sqlite3.Connection) -> None:
    names: list[tuple[int, str]] = []
    norms: list[tuple[str, int, str, str | None]] = []
    for ref, name, _, aliases in _live_entities(conn):
        names.append((ref, name))
        norms += [(norm, ref, fold_accents(norm), acr) for norm, acr in entity_keys(name, aliases).items()]
    # Distinct by construction: each distinct norm, each of its keys once.
    blocks = sorted((k, len(n.split()), n) for n in {row[0] for row in norms} for k in block_keys(n))
    acronyms = Counter(acr for acr, _ in {(row[3], row[1]) for row in norms if row[3]})
    sizes = [(BLOCK, k, n) for k, n in Counter(k for k, _, _ in blocks).items()]
    sizes += [(ACRONYM, k, n) for k, n in acronyms.items()]
    norms.sort(key=lambda r: (r[0], r[1]))
    out.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;" + _SCHEMA)
    with out:
        out.executemany("INSERT INTO names VALUES (?, ?)", names)
        out.executemany("INSERT INTO norms VALUES (?, ?, ?, ?)", norms)
        out.executemany("INSERT INTO blocks VALUES (?, ?, ?)", blocks)
        out.executemany("INSERT INTO sizes VALUES (?, ?, ?)", sorted(sizes))
    out.executescript(_INDEXES + f"PRAGMA user_version = {FORMAT};")


# -- lookup -----------------------------------------------------------------------------------------------------
class Lookup(Protocol):
    """The postings ``find_candidates`` reads; a posting over ``cap`` entries is skipped (returned empty), and
    ``block`` gives only the posting's names of ``words`` words, the only ones a fuzzy match may have."""

    def norm_refs(self, norm: str) -> set[int]: ...
    def folded_refs(self, folded: str) -> set[int]: ...
    def acronym_refs(self, acr: str, cap: int) -> set[int]: ...
    def block(self, key: str, cap: int, words: int) -> set[str]: ...
    def name(self, ref: int) -> str: ...


def find_candidates(lookup: Lookup, surface: str, fuzzy_cutoff: float | None = 88.0, limit: int = 8,
                    max_posting: int = MAX_POSTING) -> list[Candidate]:
    """``EntityCatalog.candidates`` over any ``Lookup``, with ties ordered: fuzzy pool by norm, result by ref."""
    norm = normalize(surface)
    if not norm:
        return []
    found: dict[int, Candidate] = {}

    def put(refs: Iterable[int], kind: str, sim: float) -> None:
        for ref in refs:
            if ref not in found or found[ref].name_sim < sim:
                found[ref] = Candidate(ref, kind, sim)

    put(lookup.norm_refs(norm), "exact", 1.0)
    put(lookup.folded_refs(fold_accents(norm)), "exact", 0.97)
    if looks_like_acronym(surface):
        put(lookup.acronym_refs(norm.replace(" ", ""), max_posting), "acronym", 0.9)
    else:
        acr = acronym(surface)
        if acr:
            refs = lookup.norm_refs(acr)
            if len(refs) <= max_posting:
                put([r for r in refs if looks_like_acronym(lookup.name(r))], "acronym", 0.9)
    n_tok = len(norm.split())
    if fuzzy_cutoff is not None and len(found) < limit and (n_tok > 1 or len(norm) >= 5):
        pool: set[str] = set()
        for tok in norm.split():
            if len(tok) >= 3:
                for key in (tok, "~" + tok[:4]):
                    pool |= lookup.block(key, max_posting, n_tok)
        # Spelling variants keep their word count; extensions ('Angola'/'Angolan') are not variants.
        pool = {p for p in pool if not (p.startswith(norm) or norm.startswith(p))}
        if pool:
            cutoff = fuzzy_cutoff if n_tok > 1 else max(fuzzy_cutoff, 90.0)
            for other, score, _ in process.extract(norm, sorted(pool), scorer=fuzz.ratio, score_cutoff=cutoff,
                                                   limit=limit):
                put(lookup.norm_refs(other), "fuzzy", score / 100.0)
    return sorted(found.values(), key=lambda c: (-c.name_sim, c.ref))[: limit * 2]


class CatalogLookup:
    """A ``Lookup`` over an in-memory EntityCatalog (reads its private indexes until it exposes them)."""

    def __init__(self, catalog: EntityCatalog) -> None:
        self.catalog = catalog

    def norm_refs(self, norm: str) -> set[int]:
        return {r for r in self.catalog._by_norm.get(norm, ()) if r in self.catalog.entities}

    def folded_refs(self, folded: str) -> set[int]:
        return {r for r in self.catalog._by_folded.get(folded, ()) if r in self.catalog.entities}

    def acronym_refs(self, acr: str, cap: int) -> set[int]:
        posting = self.catalog._by_acronym.get(acr, set())
        return {r for r in posting if r in self.catalog.entities} if len(posting) <= cap else set()

    def block(self, key: str, cap: int, words: int) -> set[str]:
        posting = self.catalog._blocks.get(key, set())
        return {p for p in posting if len(p.split()) == words} if len(posting) <= cap else set()

    def name(self, ref: int) -> str:
        return self.catalog.entities[ref].name


class NamedEntity(NamedTuple):
    ref: int
    name: str


class EntityNames:
    """``index.entities[ref].name``, as QueryAnalyzer reads an EntityCatalog's entities."""

    def __init__(self, index: CatalogIndex) -> None:
        self._index = index

    def __getitem__(self, ref: int) -> NamedEntity:
        return NamedEntity(ref, self._index.name(ref))

    def __contains__(self, ref: object) -> bool:
        if not isinstance(ref, int):
            return False
        try:
            self._index.name(ref)
        except KeyError:
            return False
        return True


class CatalogIndex:
    """The catalog file's entities, less ``hidden`` ones (and the overlay's), plus the ``overlay`` catalog of
    entities that changed since the file was built; ``path=None`` is the overlay alone. Safe across threads."""

    def __init__(self, path: Path | None, overlay: EntityCatalog | None = None, hidden: frozenset[int] = frozenset(),
                 max_posting: int = MAX_POSTING) -> None:
        self.max_posting = max_posting
        self.overlay = overlay if overlay is not None else EntityCatalog()
        self.hidden = frozenset(hidden) | self.overlay.entities.keys()
        self.entities = EntityNames(self)
        self._lock = threading.Lock()  # one connection, shared by the threads that search
        self._db: sqlite3.Connection | None = None
        if path is not None:
            self._db = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
            version = self._query("PRAGMA user_version")[0][0]
            if version != FORMAT:
                self._db.close()
                raise ValueError(f"{path} is not a catalog file of format {FORMAT} (it has {version}); rebuild it")
        self._dead: set[str] = set()  # file norms whose every entity is hidden
        self._size_delta: Counter[tuple[int, str]] = Counter()  # how hidden and overlay change a file posting
        self._adjust()

    def close(self) -> None:
        if self._db is not None:
            with self._lock:
                self._db.close()

    def _query(self, sql: str, params: Iterable[object] = ()) -> list[tuple]:
        if self._db is None:
            return []
        with self._lock:
            return self._db.execute(sql, tuple(params)).fetchall()

    def _rows(self, sql: str, keys: list) -> list[tuple]:
        """Rows of ``sql`` with ``{}`` filled by placeholders for ``keys``, in batches."""
        out = []
        for i in range(0, len(keys), _BATCH):
            part = keys[i : i + _BATCH]
            out += self._query(sql.format(",".join("?" * len(part))), part)
        return out

    def _adjust(self) -> None:
        """Posting sizes and dead norms for hidden and overlay entities, read once (a few indexed reads each)."""
        hidden_rows = self._rows("SELECT norm, ref, acronym FROM norms WHERE ref IN ({})", sorted(self.hidden))
        self._size_delta.subtract(Counter((ACRONYM, a) for a, _ in {(a, r) for _, r, a in hidden_rows if a}))
        norms = sorted({n for n, _, _ in hidden_rows})
        alive = {n for n, r in self._rows("SELECT norm, ref FROM norms WHERE norm IN ({})", norms)
                 if r not in self.hidden}
        self._dead = set(norms) - alive
        self._size_delta.subtract(Counter((BLOCK, k) for n in self._dead for k in block_keys(n)))
        ov = self.overlay
        self._size_delta.update({(ACRONYM, a): len(refs) for a, refs in ov._by_acronym.items()})
        ov_norms = sorted(n for n, refs in ov._by_norm.items() if refs)
        in_file = {n for (n,) in self._rows("SELECT DISTINCT norm FROM norms WHERE norm IN ({})", ov_norms)}
        new = [n for n in ov_norms if n not in in_file or n in self._dead]
        self._size_delta.update(Counter((BLOCK, k) for n in new for k in block_keys(n)))

    # -- the Lookup postings: the file's rows less hidden entities, plus the overlay's --------------------------
    def _file_refs(self, sql: str, key: str) -> set[int]:
        return {r for (r,) in self._query(sql, (key,)) if r not in self.hidden}

    def _size(self, kind: int, key: str) -> int:
        rows = self._query("SELECT n FROM sizes WHERE kind = ? AND key = ?", (kind, key))
        return (rows[0][0] if rows else 0) + self._size_delta[(kind, key)]

    def norm_refs(self, norm: str) -> set[int]:
        return self._file_refs("SELECT ref FROM norms WHERE norm = ?", norm) | self.overlay._by_norm.get(norm, set())

    def folded_refs(self, folded: str) -> set[int]:
        return (self._file_refs("SELECT ref FROM norms WHERE folded = ?", folded)
                | self.overlay._by_folded.get(folded, set()))

    def acronym_refs(self, acr: str, cap: int) -> set[int]:
        if self._size(ACRONYM, acr) > cap:
            return set()
        return (self._file_refs("SELECT ref FROM norms WHERE acronym = ?", acr)
                | self.overlay._by_acronym.get(acr, set()))

    def block(self, key: str, cap: int, words: int) -> set[str]:
        n = self._size(BLOCK, key)
        if n > cap or n <= 0:
            return set()
        found = {norm for (norm,) in self._query("SELECT norm FROM blocks WHERE key = ? AND words = ?", (key, words))}
        return (found - self._dead) | {p for p in self.overlay._blocks.get(key, ()) if len(p.split()) == words}

    # -- the EntityCatalog interface QueryAnalyzer uses -------------------------------------------------------
    def name(self, ref: int) -> str:
        """An entity's name; KeyError for one not in the catalog."""
        if ref in self.overlay.entities:
            return self.overlay.entities[ref].name
        rows = self._query("SELECT name FROM names WHERE ref = ?", (ref,)) if ref not in self.hidden else []
        if not rows:
            raise KeyError(ref)
        return str(rows[0][0])

    def candidates(self, surface: str, fuzzy_cutoff: float | None = 88.0, limit: int = 8) -> list[Candidate]:
        """Entities this surface may name, as ``EntityCatalog.candidates`` finds them (ties ordered by ref)."""
        return find_candidates(self, surface, fuzzy_cutoff, limit, self.max_posting)

    def refs_for_norm(self, norm: str) -> list[int]:
        return sorted(self.norm_refs(norm))
