"""The retrieval index: scipy sparse matrices built from the store, rebuilt when the store changes.

Columns ``0 .. V-1`` are the encoder's word pieces and column ``V + j`` is the j-th live entity: word pieces and
entity dimensions share one inverted index (a CSC matrix, chunks as rows). Chunk vectors are encoded once and
stored; entity weights are derived from the stored mentions at build time, so an entity that a new document
introduces is a dimension as soon as that document is committed, with no re-encoding of any other chunk.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from retrieve.config import EntityWeights
from retrieve.sparse import SparseVec
from store import vectors as vstore
from store.db import Database


def chunk_text(title: str, text: str) -> str:
    """What the encoders see for a chunk: its document title as a header, then the chunk."""
    return f"{title}\n{text}" if title and not text.startswith(title) else text


@dataclass
class Index:
    """Immutable snapshot of the store's retrieval data; ``Index.build`` makes one."""

    signature: tuple
    chunk_ids: np.ndarray  # int64, ascending; row r of every matrix is chunk_ids[r]
    doc_ids: np.ndarray
    vocab_size: int
    matrix: sp.csc_matrix  # chunks x (V + entities)
    entity_ids: np.ndarray  # column V + j is entity entity_ids[j]
    entity_col: dict[int, int]
    entity_names: list[str]
    entity_types: list[str]
    entity_df: np.ndarray  # chunks per entity
    term_df: np.ndarray  # chunks per word piece
    relations: sp.csr_matrix  # entities x entities, symmetric, summed relation weights
    dense: np.ndarray | None = None  # chunks x d, normalised
    entity_vectors: np.ndarray | None = None  # entities x d, normalised (entity retrieval)
    extras: dict = field(default_factory=dict)

    @property
    def n_chunks(self) -> int:
        return len(self.chunk_ids)

    @property
    def n_entities(self) -> int:
        return len(self.entity_ids)

    def rows_of(self, chunk_ids: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.chunk_ids, chunk_ids)

    def entity_idf(self) -> np.ndarray:
        """Specificity of each entity: log of chunks over chunks that hold it, at least a small floor."""
        n = max(self.n_chunks, 1)
        return np.log1p(n / np.maximum(self.entity_df, 1.0)).astype(np.float32)

    def term_idf(self) -> np.ndarray:
        n = max(self.n_chunks, 1)
        return np.log1p((n - self.term_df + 0.5) / (self.term_df + 0.5)).astype(np.float32)

    @classmethod
    def build(cls, db: Database, sparse_encoder: str, vocab_size: int, dense_encoder: str | None,
              entity_encoder: str | None, weights: EntityWeights | None = None,
              entity_text: Callable[[str, str], str] | None = None) -> Index:
        weights = weights or EntityWeights()
        with db.read() as s:
            sig = vstore.signature(s)
            chunks = vstore.chunk_rows(s)
            vec_rows = vstore.chunk_vectors(s, sparse_encoder)
            pairs = vstore.chunk_entities(s)
            about = vstore.about_entities(s)
            ents = vstore.live_entities(s)
            rels = vstore.relation_edges(s)
            dense_rows = vstore.chunk_embeddings(s, dense_encoder) if dense_encoder else []
            ent_vecs = vstore.entity_embeddings(s, entity_encoder) if entity_encoder else {}
        chunk_ids = np.array([c for c, _ in chunks], dtype=np.int64)
        doc_ids = np.array([d for _, d in chunks], dtype=np.int64)
        n = len(chunk_ids)

        # Word pieces: the stored vectors, one row per chunk (a chunk not yet encoded is an empty row).
        indptr, indices, data = [0], [], []
        row_vec = {c: (t, w) for c, t, w in vec_rows}
        for c in chunk_ids.tolist():
            tw = row_vec.get(c)
            if tw is not None:
                v = SparseVec.from_bytes(*tw)
                indices.append(v.terms)
                data.append(v.weights)
                indptr.append(indptr[-1] + len(v.terms))
            else:
                indptr.append(indptr[-1])
        words = sp.csr_matrix(
            (np.concatenate(data) if data else np.zeros(0, np.float32),
             np.concatenate(indices) if indices else np.zeros(0, np.int32), np.array(indptr)),
            shape=(n, vocab_size), dtype=np.float32)

        # Entity dimensions: salience of each live entity in each chunk.
        entity_ids = np.array(sorted(i for i, _, _ in ents), dtype=np.int64)
        entity_col = {int(e): j for j, e in enumerate(entity_ids.tolist())}
        names = {i: (nm, t) for i, nm, t in ents}
        sal: dict[tuple[int, int], float] = {}
        row_of = {int(c): r for r, c in enumerate(chunk_ids.tolist())}
        for c, e, count, conf, first in pairs:
            if e in entity_col and c in row_of:
                w = conf * (1.0 + weights.per_mention * math.log(count)) + (weights.lead if first < 100 else 0.0)
                sal[(row_of[c], entity_col[e])] = w
        for c, e in about:
            if e in entity_col and c in row_of:
                key = (row_of[c], entity_col[e])
                sal[key] = sal.get(key, 0.0) + weights.about
        if sal:
            (rr, cc), vv = zip(*sal.keys()), list(sal.values())
            ent_m = sp.csr_matrix((np.array(vv, np.float32), (np.array(rr), np.array(cc))),
                                  shape=(n, len(entity_ids)))
        else:
            ent_m = sp.csr_matrix((n, len(entity_ids)), dtype=np.float32)
        matrix = sp.hstack([words, ent_m], format="csc", dtype=np.float32)
        entity_df = np.diff(ent_m.tocsc().indptr).astype(np.float32)
        term_df = np.diff(words.tocsc().indptr).astype(np.float32)

        # Relations between live entities, symmetric, for the graph channel.
        rh, rt, rw = [], [], []
        for h, t, w in rels:
            if h in entity_col and t in entity_col and w > 0:
                rh.append(entity_col[h])
                rt.append(entity_col[t])
                rw.append(w)
        m = len(entity_ids)
        relations = sp.csr_matrix((np.array(rw, np.float32), (np.array(rh, dtype=np.int64),
                                                              np.array(rt, dtype=np.int64))), shape=(m, m))
        relations = (relations + relations.T).tocsr()

        dense = None
        if dense_rows:
            got = {c: v for c, v in dense_rows}
            width = len(np.frombuffer(next(iter(got.values())), dtype="<f4"))
            dense = np.zeros((n, width), dtype=np.float32)
            for r, c in enumerate(chunk_ids.tolist()):
                if c in got:
                    dense[r] = np.frombuffer(got[c], dtype="<f4")
        entity_vectors = None
        if ent_vecs:
            dim = len(np.frombuffer(next(iter(ent_vecs.values()))[1], dtype="<f4"))
            entity_vectors = np.zeros((m, dim), dtype=np.float32)
            for j, e in enumerate(entity_ids.tolist()):
                got_e = ent_vecs.get(e)
                if got_e is not None:
                    entity_vectors[j] = np.frombuffer(got_e[1], dtype="<f4")
        return cls(
            signature=sig, chunk_ids=chunk_ids, doc_ids=doc_ids, vocab_size=vocab_size, matrix=matrix,
            entity_ids=entity_ids, entity_col=entity_col,
            entity_names=[names[int(e)][0] for e in entity_ids.tolist()],
            entity_types=[names[int(e)][1] for e in entity_ids.tolist()],
            entity_df=entity_df, term_df=term_df, relations=relations, dense=dense, entity_vectors=entity_vectors,
        )
