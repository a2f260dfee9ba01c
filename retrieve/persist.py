"""The search index, persisted beside the store and brought up to date from the store's change log.

Everything the retriever ranks with is built from the store with vectorised reads (SQL aggregates, one byte
string per column of blobs, numpy and scipy; no Python work per chunk or mention) into ``Parts``:

- rows: one per chunk, a CSR matrix over the encoder's word pieces followed by one column per entity id (its
  salience in the chunk), with the chunk's document and, when the store has them, its dense embedding;
- entities, by id: whether live, name, type, name embedding, the tokens of its name, its relations (summed
  weights) and its synonym list (the nearest names among those sharing a rare name token).

``IndexFiles`` writes Parts as plain ``.npy`` arrays in a folder beside the store (``kg.db.index/``), which a
new process memory-maps instead of rebuilding. The store's triggers (migration 0004) list every chunk and
entity whose index data changed since (``index_changes``); ``apply_changes`` re-reads only those and gives the
Parts a from-scratch build would give, so a reader is always current and exact. A writer folds the changes
into new files (``compact``) once they pass a share of the index; a folder whose generation is not the store's
(copied, restored, or left by a crash) is never used, and a reader then builds in memory instead.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from hashlib import blake2b
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from extract.normalize import normalize
from retrieve.config import EntityWeights

FORMAT = 1
CHUNK, ENTITY = 1, 2  # index_changes.kind
SYNONYM_POSTING = 64  # a name token shared by more entities than this is too common to suggest synonyms
_BATCH = 500


class StringTable(Sequence[str]):
    """Strings by position over one UTF-8 blob and its offsets, decoded on access, with a few overrides: 500k
    entity names open in no time and an update touches only the names that changed."""

    def __init__(self, blob: bytes, offsets: np.ndarray, overrides: dict[int, str] | None = None,
                 size: int | None = None):
        self.blob, self.offsets, self.overrides = blob, offsets, overrides or {}
        self.size = len(offsets) - 1 if size is None else size

    @classmethod
    def of(cls, values: list[str]) -> StringTable:
        data = [v.encode("utf-8") for v in values]
        lengths = np.fromiter((len(b) for b in data), np.int64, len(data))
        return cls(b"".join(data), np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64))

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, i):  # type: ignore[no-untyped-def, override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self.size))]
        if i < 0:
            i += self.size
        if not 0 <= i < self.size:
            raise IndexError(i)
        if i in self.overrides:
            return self.overrides[i]
        if i + 1 >= len(self.offsets):
            return ""
        return self.blob[int(self.offsets[i]) : int(self.offsets[i + 1])].decode("utf-8")

    def changed(self, values: dict[int, str], size: int) -> StringTable:
        return StringTable(self.blob, self.offsets, {**self.overrides, **values}, max(size, self.size))

    def dump(self) -> tuple[bytes, np.ndarray]:
        if not self.overrides and self.size == len(self.offsets) - 1:
            return self.blob, np.asarray(self.offsets)
        fresh = StringTable.of(list(self))
        return fresh.blob, fresh.offsets


@dataclass
class Encoders:
    sparse: str
    vocab_size: int
    dense: str | None  # chunk embeddings, when the store has them
    entity: str | None  # entity-name embeddings


@dataclass
class Parts:
    """The index's arrays: chunk rows and entity slots (slot = entity id)."""

    encoders: Encoders
    chunk_ids: np.ndarray  # int64, ascending
    doc_ids: np.ndarray
    rows: sp.csr_matrix  # chunks x (vocab + slots)
    dense: np.ndarray | None  # chunks x d
    live: np.ndarray  # bool per slot
    names: StringTable  # per slot ('' when dead)
    types: StringTable
    vectors: np.ndarray | None  # slots x d, zero where missing
    tokens: sp.csr_matrix  # slots x token keys (binary)
    token_keys: np.ndarray  # uint64 hash of each token column
    relations: sp.csr_matrix  # slots x slots, symmetric
    synonyms: sp.csr_matrix  # slots x slots, each row an entity's own nearest names (not symmetrised)
    meta: dict[str, Any] = field(default_factory=dict)
    columns: sp.csc_matrix | None = None  # ``rows`` by column, when read from files (else made when needed)

    @property
    def slots(self) -> int:
        return len(self.live)


def raw_connection(conn: Any) -> sqlite3.Connection:
    """The sqlite3 connection under a SQLAlchemy connection (or the sqlite3 connection itself)."""
    raw = getattr(conn, "connection", conn)
    return getattr(raw, "driver_connection", raw)  # type: ignore[no-any-return]


def _cursor(conn: Any) -> sqlite3.Cursor:
    return raw_connection(conn).cursor()


def _in(ids: np.ndarray | None) -> Iterable[tuple[str, tuple]]:
    """SQL filters over at most ``_BATCH`` ids each (or no filter at all)."""
    if ids is None:
        yield "", ()
        return
    for i in range(0, len(ids), _BATCH):
        part = tuple(int(x) for x in ids[i : i + _BATCH])
        yield f" IN ({','.join('?' * len(part))})", part


def _columns(rows: list[tuple], n: int) -> list[list]:
    return [list(c) for c in zip(*rows)] if rows else [[] for _ in range(n)]


def _blob_array(blobs: list[bytes], dtype: str) -> np.ndarray:
    """One array from many blobs: a single join, no loop over them in Python."""
    return np.frombuffer(b"".join(blobs), dtype=dtype) if blobs else np.zeros(0, dtype)


def read_rows(conn: Any, enc: Encoders, weights: EntityWeights, slots: int,
              chunk_ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, sp.csr_matrix, np.ndarray | None]:
    """(chunk ids, document ids, rows, dense) of the given chunks (all when None), by ascending chunk id."""
    cur = _cursor(conn)
    got: list[tuple] = []
    for where, args in _in(chunk_ids):
        got += cur.execute(f"SELECT id, document_id FROM chunks{' WHERE id' + where if where else ''}",
                           args).fetchall()
    got.sort()
    ids_l, docs_l = _columns(got, 2)
    ids = np.array(ids_l, dtype=np.int64)
    docs = np.array(docs_l, dtype=np.int64)
    n, V = len(ids), enc.vocab_size

    def row_of(cids: list[int]) -> np.ndarray:
        return np.searchsorted(ids, np.array(cids, dtype=np.int64))

    vec: list[tuple] = []
    for where, args in _in(ids if chunk_ids is not None else None):
        vec += cur.execute("SELECT chunk_id, terms, weights, length(terms) / 4 FROM chunk_vectors WHERE encoder = ?"
                           + (f" AND chunk_id{where}" if where else ""), (enc.sparse, *args)).fetchall()
    vc, vt, vw, vn = _columns(vec, 4)
    terms = _blob_array(vt, "<i4")
    wts = _blob_array(vw, "<f4")
    word_rows = np.repeat(row_of(vc), np.array(vn, dtype=np.int64)) if vc else np.zeros(0, np.int64)

    pairs: list[tuple] = []
    for where, args in _in(ids if chunk_ids is not None else None):
        pairs += cur.execute(
            "SELECT m.chunk_id, coalesce(e.merged_into_id, e.id), count(*), max(m.confidence), min(m.start) "
            "FROM mentions m JOIN entities e ON e.id = m.entity_id"
            + (f" WHERE m.chunk_id{where}" if where else "") + " GROUP BY m.chunk_id, coalesce(e.merged_into_id, e.id)",
            args).fetchall()
    pc, pe, pn, pconf, pfirst = (np.array(c) for c in _columns(pairs, 5))
    about: list[tuple] = []
    for where, args in _in(ids if chunk_ids is not None else None):
        about += cur.execute(
            "SELECT c.id, coalesce(e.merged_into_id, e.id) FROM chunks c JOIN documents d ON d.id = c.document_id "
            "JOIN entities e ON e.id = d.about_entity_id" + (f" WHERE c.id{where}" if where else ""), args).fetchall()
    ac, ae = (np.array(c, dtype=np.int64) for c in _columns(about, 2))
    ent_rows = np.concatenate([row_of(list(pc)) if len(pc) else np.zeros(0, np.int64),
                               row_of(list(ac)) if len(ac) else np.zeros(0, np.int64)])
    ent_cols = np.concatenate([pe.astype(np.int64) if len(pe) else np.zeros(0, np.int64), ae])
    sal = (pconf.astype(np.float64) * (1.0 + weights.per_mention * np.log(pn.astype(np.float64)))
           + np.where(pfirst.astype(np.int64) < 100, weights.lead, 0.0)) if len(pc) else np.zeros(0)
    ent_vals = np.concatenate([sal, np.full(len(ac), weights.about)]).astype(np.float32)
    keep = ent_cols < slots
    rows = sp.csr_matrix(
        (np.concatenate([wts.astype(np.float32), ent_vals[keep]]),
         (np.concatenate([word_rows, ent_rows[keep]]), np.concatenate([terms.astype(np.int64), V + ent_cols[keep]]))),
        shape=(n, V + slots), dtype=np.float32)
    rows.sum_duplicates()

    dense = None
    if enc.dense:
        emb: list[tuple] = []
        for where, args in _in(ids if chunk_ids is not None else None):
            emb += cur.execute("SELECT chunk_id, vector FROM chunk_embeddings WHERE encoder = ?"
                               + (f" AND chunk_id{where}" if where else ""), (enc.dense, *args)).fetchall()
        if emb:
            ec, ev = _columns(emb, 2)
            flat = _blob_array(ev, "<f4")
            d = len(flat) // len(ec)
            dense = np.zeros((n, d), dtype=np.float32)
            dense[row_of(ec)] = flat.reshape(len(ec), d)
    return ids, docs, rows, dense


def token_key(token: str) -> int:
    return int.from_bytes(blake2b(token.encode("utf-8"), digest_size=8).digest(), "little")


def name_tokens(name: str) -> list[int]:
    """The keys of a name's normalised words of three letters or more: what synonym candidates share."""
    return sorted({token_key(t) for t in normalize(name).split() if len(t) >= 3})


def read_entities(conn: Any, enc: Encoders, slots: int, ids: np.ndarray | None = None
                  ) -> tuple[np.ndarray, list[str], list[str], np.ndarray | None, list[list[int]], sp.coo_matrix]:
    """(live ids, names, types, name vectors, name tokens, relation edges) of the given entities (all when None).
    Relation edges are every (head, tail, summed weight) touching them, both directions."""
    cur = _cursor(conn)
    got: list[tuple] = []
    for where, args in _in(ids):
        got += cur.execute("SELECT id, name, type FROM entities WHERE merged_into_id IS NULL"
                           + (f" AND id{where}" if where else ""), args).fetchall()
    got.sort()
    eid_l, names, types = _columns(got, 3)
    eids = np.array(eid_l, dtype=np.int64)
    vectors = None
    if enc.entity:
        emb: list[tuple] = []
        for where, args in _in(eids if ids is not None else None):
            emb += cur.execute("SELECT entity_id, vector FROM entity_embeddings WHERE encoder = ?"
                               + (f" AND entity_id{where}" if where else ""), (enc.entity, *args)).fetchall()
        if emb:
            ev_ids, ev = _columns(emb, 2)
            flat = _blob_array(ev, "<f4")
            d = len(flat) // len(ev_ids)
            vectors = np.zeros((len(eids), d), dtype=np.float32)
            pos = np.searchsorted(eids, np.array(ev_ids, dtype=np.int64))
            ok = (pos < len(eids)) & (eids[np.minimum(pos, max(len(eids) - 1, 0))] == np.array(ev_ids)) \
                if len(eids) else np.zeros(len(ev_ids), bool)
            vectors[pos[ok]] = flat.reshape(len(ev_ids), d)[ok]
    rel: list[tuple] = []
    for where, args in _in(ids):
        cond = f" AND (head_id{where} OR tail_id{where})" if where else ""
        rel += cur.execute("SELECT head_id, tail_id, sum(weight) FROM relations WHERE head_id != tail_id" + cond
                           + " GROUP BY head_id, tail_id", args + args).fetchall()
    rel = sorted(set(rel))
    rh, rt, rw = (np.array(c) for c in _columns(rel, 3))
    edges = sp.coo_matrix((rw.astype(np.float32), (rh.astype(np.int64), rt.astype(np.int64))),
                          shape=(slots, slots)) if len(rel) else sp.coo_matrix((slots, slots), dtype=np.float32)
    return eids, names, types, vectors, [name_tokens(n) for n in names], edges


def _live_relations(edges: sp.coo_matrix, live: np.ndarray) -> sp.csr_matrix:
    m = edges.tocsr()
    mask = sp.diags(live.astype(np.float32))
    m = mask @ m @ mask
    m = (m + m.T).tocsr()
    m.eliminate_zeros()
    return m


def _postings(tokens: sp.csr_matrix, live: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    """The name tokens of the live entities (dead entities share nothing), and how many hold each token."""
    t = tokens.multiply(live[:, None]).tocsr()
    return t, np.diff(t.tocsc().indptr)


def synonym_lists(vectors: np.ndarray | None, tokens: sp.csr_matrix, live: np.ndarray, sources: np.ndarray,
                  threshold: float, per_entity: int,
                  postings: tuple[sp.csr_matrix, np.ndarray] | None = None) -> sp.csr_matrix:
    """Each source entity's nearest names (cosine of name embeddings >= ``threshold``, at most ``per_entity``,
    ties by id) among the live entities sharing a name token held by at most SYNONYM_POSTING of them.
    ``postings``: ``_postings(tokens, live)`` when the caller has it already."""
    m = len(live)
    if vectors is None or per_entity <= 0 or not len(sources):
        return sp.csr_matrix((m, m), dtype=np.float32)
    t, posting = postings if postings is not None else _postings(tokens, live)
    t = t @ sp.diags((posting <= SYNONYM_POSTING).astype(np.float32))
    cand = (t[sources] @ t.T).tocoo()  # sources x entities: shared rare tokens
    r, c = sources[cand.row], cand.col
    keep = r != c
    r, c = r[keep], c[keep]
    sims = np.empty(len(r), dtype=np.float32)
    for i in range(0, len(r), 200_000):
        sims[i : i + 200_000] = np.einsum("ij,ij->i", vectors[r[i : i + 200_000]], vectors[c[i : i + 200_000]])
    ok = sims >= threshold
    r, c, sims = r[ok], c[ok], sims[ok]
    order = np.lexsort((c, -sims, r))  # per source: best first, ties by id
    r, c, sims = r[order], c[order], sims[order]
    first = np.searchsorted(r, r, side="left")
    rank = np.arange(len(r)) - first
    top = rank < per_entity
    return sp.csr_matrix((sims[top], (r[top], c[top])), shape=(m, m), dtype=np.float32)


def _slots_needed(conn: Any) -> int:
    return int(_cursor(conn).execute("SELECT coalesce(max(id), 0) + 1 FROM entities").fetchone()[0])


def _token_matrix(token_lists: list[list[int]], slot_ids: np.ndarray, slots: int,
                  keys: np.ndarray | None = None) -> tuple[sp.csr_matrix, np.ndarray]:
    counts = np.fromiter((len(t) for t in token_lists), dtype=np.int64, count=len(token_lists))
    flat = np.fromiter((k for t in token_lists for k in t), dtype=np.uint64, count=int(counts.sum()))
    all_keys = np.unique(flat) if keys is None else np.union1d(keys, flat)
    cols = np.searchsorted(all_keys, flat)
    rows = np.repeat(slot_ids, counts)
    mat = sp.csr_matrix((np.ones(len(flat), np.float32), (rows, cols)), shape=(slots, len(all_keys)))
    return mat, all_keys


def build(conn: Any, enc: Encoders, weights: EntityWeights, synonym_threshold: float,
          synonyms_per_entity: int) -> Parts:
    """Every part of the index from the store as it is in this read transaction."""
    slots = _slots_needed(conn)
    ids, docs, rows, dense = read_rows(conn, enc, weights, slots)
    eids, names, types, vecs, toks, edges = read_entities(conn, enc, slots)
    live = np.zeros(slots, dtype=bool)
    live[eids] = True
    all_names, all_types = [""] * slots, [""] * slots
    for i, nm, ty in zip(eids.tolist(), names, types):
        all_names[i], all_types[i] = nm, ty
    vectors = None
    if vecs is not None:
        vectors = np.zeros((slots, vecs.shape[1]), dtype=np.float32)
        vectors[eids] = vecs
    tokens, keys = _token_matrix(toks, eids, slots)
    parts = Parts(enc, ids, docs, rows, dense, live, StringTable.of(all_names), StringTable.of(all_types), vectors,
                  tokens, keys,
                  _live_relations(edges, live), sp.csr_matrix((slots, slots), dtype=np.float32))
    parts.synonyms = synonym_lists(vectors, tokens, live, eids, synonym_threshold, synonyms_per_entity)
    return parts


def pending_changes(conn: Any) -> tuple[np.ndarray, np.ndarray]:
    """(chunk ids, entity ids) whose index data changed since the persisted index was built."""
    got = _cursor(conn).execute("SELECT kind, ref FROM index_changes").fetchall()
    kinds, refs = (np.array(c, dtype=np.int64) for c in _columns(got, 2))
    return (np.unique(refs[kinds == CHUNK]) if len(got) else np.zeros(0, np.int64),
            np.unique(refs[kinds == ENTITY]) if len(got) else np.zeros(0, np.int64))


def _grow(parts: Parts, slots: int) -> Parts:
    """The same parts with room for entity ids up to ``slots``."""
    if slots <= parts.slots:
        return parts
    extra = slots - parts.slots
    V = parts.encoders.vocab_size
    rows = parts.rows.copy()
    rows.resize((rows.shape[0], V + slots))

    def square(m: sp.csr_matrix) -> sp.csr_matrix:
        m = m.tocsr().copy()
        m.resize((slots, slots))
        return m

    tokens = parts.tokens.tocsr().copy()
    tokens.resize((slots, tokens.shape[1]))
    vectors = None if parts.vectors is None else np.vstack([parts.vectors,
                                                            np.zeros((extra, parts.vectors.shape[1]), np.float32)])
    return replace(parts, columns=None, rows=rows, live=np.concatenate([parts.live, np.zeros(extra, bool)]),
                   names=parts.names.changed({}, slots), types=parts.types.changed({}, slots), vectors=vectors,
                   tokens=tokens, relations=square(parts.relations), synonyms=square(parts.synonyms))


def _zero_rows(m: sp.csr_matrix, rows: np.ndarray) -> sp.csr_matrix:
    keep = np.ones(m.shape[0], dtype=np.float32)
    keep[rows] = 0
    out = (sp.diags(keep) @ m).tocsr()
    out.eliminate_zeros()
    return out


def apply_changes(conn: Any, parts: Parts, chunks: np.ndarray, entities: np.ndarray, weights: EntityWeights,
                  synonym_threshold: float, synonyms_per_entity: int) -> Parts:
    """``parts`` brought up to date: the changed chunks' rows and the changed entities re-read from the store;
    equal to what ``build`` would give now."""
    if not len(chunks) and not len(entities):
        return parts
    before = parts.vectors
    parts = _grow(parts, _slots_needed(conn))
    slots, enc = parts.slots, parts.encoders
    # Rows: drop the changed chunks' old rows, add their rows as they are now (deleted chunks have none).
    ids, docs, rows, dense = read_rows(conn, enc, weights, slots, chunks)
    old = np.isin(parts.chunk_ids, chunks)
    keep = ~old
    all_ids = np.concatenate([parts.chunk_ids[keep], ids])
    order = np.argsort(all_ids, kind="stable")
    new_rows = sp.vstack([parts.rows[np.flatnonzero(keep)], rows], format="csr")[order]
    new_dense = None
    if parts.dense is not None or dense is not None:
        d = (parts.dense if parts.dense is not None else dense).shape[1]  # type: ignore[union-attr]
        a = parts.dense[keep] if parts.dense is not None else np.zeros((int(keep.sum()), d), np.float32)
        b = dense if dense is not None else np.zeros((len(ids), d), np.float32)
        new_dense = np.vstack([a, b])[order]
    # Entities: overwrite the changed slots.
    eids, names, types, vecs, toks, edges = read_entities(conn, enc, slots, entities)
    live = parts.live.copy()
    live[entities[entities < slots]] = False
    live[eids] = True
    gone = {i: "" for i in entities.tolist() if i < slots}
    names_t = parts.names.changed({**gone, **dict(zip(eids.tolist(), names))}, slots)
    types_t = parts.types.changed({**gone, **dict(zip(eids.tolist(), types))}, slots)
    vectors = parts.vectors
    if vecs is not None or vectors is not None:
        d = (vecs if vecs is not None else vectors).shape[1]  # type: ignore[union-attr]
        if vectors is None:
            vectors = np.zeros((slots, d), np.float32)
        elif vectors is before:  # the files' (memory-mapped, read-only) or a cached base: changed on a copy
            vectors = np.array(vectors, dtype=np.float32)
        vectors[entities[entities < slots]] = 0
        if vecs is not None:
            vectors[eids] = vecs
    tok_rows, keys = _token_matrix(toks, eids, slots, parts.token_keys)
    base_tok = parts.tokens.tocsr()
    if len(keys) != len(parts.token_keys):  # new token columns: map the old ones into the wider key space
        remap = np.searchsorted(keys, parts.token_keys)
        coo = base_tok.tocoo()
        base_tok = sp.csr_matrix((coo.data, (coo.row, remap[coo.col])), shape=(slots, len(keys)))
    tokens = (_zero_rows(base_tok, entities[entities < slots]) + tok_rows).tocsr()
    # Relations: every edge touching a changed entity is re-read; the others stay.
    touched = np.zeros(slots, dtype=np.float32)
    touched[entities[entities < slots]] = 1
    untouched = sp.diags(1 - touched)
    rel = (untouched @ parts.relations @ untouched).tocsr()
    fresh = _live_relations(edges, live)
    relations = (rel + fresh).tocsr()
    relations.eliminate_zeros()
    # Synonyms: the changed entities and every entity that shares a name token with them (before or after)
    # that is rare enough to suggest synonyms before or after the change; a token too common both times
    # suggests none, and its other holders keep their lists (a common token can have most of the entities).
    shared = ((base_tok[entities[entities < slots]].sum(axis=0) > 0).A1
              if len(entities) else np.zeros(len(keys), bool))
    shared = np.asarray(shared, dtype=bool) | (np.asarray(tok_rows.sum(axis=0)).ravel() > 0)
    cols = np.flatnonzero(shared)
    postings = _postings(tokens, live)
    if len(cols):
        before = _postings(base_tok, parts.live)[1][cols]
        cols = cols[(before <= SYNONYM_POSTING) | (postings[1][cols] <= SYNONYM_POSTING)]
    near = np.flatnonzero(tokens[:, cols].getnnz(axis=1) > 0) if len(cols) else np.zeros(0, int)
    redo = np.union1d(entities[entities < slots], near).astype(np.int64)
    kept = _zero_rows(parts.synonyms.tocsr(), redo)
    synonyms = (kept + synonym_lists(vectors, tokens, live, redo[live[redo]], synonym_threshold,
                                     synonyms_per_entity, postings)).tocsr()
    return replace(parts, columns=None, chunk_ids=all_ids[order],
                   doc_ids=np.concatenate([parts.doc_ids[keep], docs])[order], rows=new_rows, dense=new_dense,
                   live=live, names=names_t, types=types_t, vectors=vectors, tokens=tokens, token_keys=keys,
                   relations=relations, synonyms=synonyms)


# -- files --------------------------------------------------------------------------------------------------------
def index_dir(db_path: str | Path) -> Path:
    p = Path(db_path)
    return p.with_name(p.name + ".index")


def _save_sparse(folder: Path, name: str, m: sp.csr_matrix) -> dict[str, Any]:
    m = m.tocsr()
    np.save(folder / f"{name}.indptr.npy", m.indptr.astype(np.int64))
    np.save(folder / f"{name}.indices.npy", m.indices.astype(np.int32 if m.shape[1] < 2**31 else np.int64))
    np.save(folder / f"{name}.data.npy", m.data.astype(np.float32))
    return {"shape": list(m.shape)}


def _load_sparse(folder: Path, name: str, shape: list[int]) -> sp.csr_matrix:
    arrays = [np.load(folder / f"{name}.{k}.npy", mmap_mode="r") for k in ("data", "indices", "indptr")]
    return sp.csr_matrix(tuple(arrays), shape=tuple(shape))  # type: ignore[arg-type]


def _save_strings(folder: Path, name: str, values: StringTable) -> None:
    blob, offsets = values.dump()
    np.save(folder / f"{name}.offsets.npy", offsets)
    (folder / f"{name}.bin").write_bytes(blob)


def _load_strings(folder: Path, name: str) -> StringTable:
    return StringTable((folder / f"{name}.bin").read_bytes(), np.load(folder / f"{name}.offsets.npy", mmap_mode="r"))


def write_files(parts: Parts, folder: Path, generation: str, version: int,
                extra: Callable[[Path], None] | None = None) -> None:
    """Write the parts to ``folder`` whole: into a new folder beside it (``extra`` adds files of its own), then
    swapped in."""
    tmp = folder.with_name(f".{folder.name}.{uuid.uuid4().hex[:8]}.new")
    tmp.mkdir()
    try:
        meta: dict[str, Any] = {"format": FORMAT, "generation": generation, "version": version,
                                "encoders": vars(parts.encoders), "sparse": {}}
        for name in ("rows", "tokens", "relations", "synonyms"):
            meta["sparse"][name] = _save_sparse(tmp, name, getattr(parts, name))
        columns = parts.columns if parts.columns is not None else parts.rows.tocsc()
        meta["sparse"]["columns"] = _save_sparse(tmp, "columns", sp.csr_matrix(columns.T))  # CSC as its transpose
        for name in ("chunk_ids", "doc_ids", "live", "token_keys"):
            np.save(tmp / f"{name}.npy", getattr(parts, name))
        for name in ("dense", "vectors"):
            if getattr(parts, name) is not None:
                np.save(tmp / f"{name}.npy", getattr(parts, name))
        _save_strings(tmp, "names", parts.names)
        _save_strings(tmp, "types", parts.types)
        if extra is not None:
            extra(tmp)
        (tmp / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
        old = folder.with_name(f".{folder.name}.{uuid.uuid4().hex[:8]}.old")
        with contextlib.suppress(FileNotFoundError):
            folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_files(folder: Path) -> Parts | None:
    """The parts in ``folder``, memory-mapped, or None when there are none or they are of another format."""
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if meta.get("format") != FORMAT:
        return None
    sparse = {n: _load_sparse(folder, n, s["shape"]) for n, s in meta["sparse"].items()}

    def optional(name: str) -> np.ndarray | None:
        p = folder / f"{name}.npy"
        return np.load(p, mmap_mode="r") if p.exists() else None

    return Parts(Encoders(**meta["encoders"]), np.load(folder / "chunk_ids.npy"), np.load(folder / "doc_ids.npy"),
                 sparse["rows"], optional("dense"), np.load(folder / "live.npy"), _load_strings(folder, "names"),
                 _load_strings(folder, "types"), optional("vectors"), sparse["tokens"],
                 np.load(folder / "token_keys.npy"), sparse["relations"], sparse["synonyms"], meta,
                 columns=sp.csc_matrix(sparse["columns"].T))


def state(conn: Any) -> tuple[int, str | None]:
    """The store's (change counter, generation of its persisted index)."""
    version, generation = _cursor(conn).execute("SELECT version, generation FROM index_state WHERE id = 1").fetchone()
    return int(version), generation


def waste(parts: Parts, chunks: np.ndarray, entities: np.ndarray) -> float:
    """How much of the index the pending changes cover: past a share of it, a writer folds them into new files."""
    return (len(chunks) + len(entities)) / max(1.0, len(parts.chunk_ids) + float(parts.live.sum()))


def new_generation() -> str:
    return uuid.uuid4().hex


def remove_files(db_path: str | Path) -> None:
    shutil.rmtree(index_dir(db_path), ignore_errors=True)


def disk_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) if folder.exists() else 0


