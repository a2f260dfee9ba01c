"""Checks shared by the persisted-index tests: the index a reader assembles from the files and the store's
pending changes must equal a from-scratch build of the store, array for array."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from kg.api import KnowledgeGraph
from retrieve import persist


def sparse_equal(a: sp.spmatrix, b: sp.spmatrix) -> bool:
    a, b = sp.csr_matrix(a), sp.csr_matrix(b)
    if a.shape != b.shape:
        rows_ = max(a.shape[0], b.shape[0]), max(a.shape[1], b.shape[1])
        a.resize(rows_)
        b.resize(rows_)
    d = (a - b).tocsr()
    d.eliminate_zeros()
    return d.nnz == 0


def assert_parts_equal(a: persist.Parts, b: persist.Parts) -> None:
    assert np.array_equal(a.chunk_ids, b.chunk_ids) and np.array_equal(a.doc_ids, b.doc_ids)
    assert sparse_equal(a.rows, b.rows)
    n = max(a.slots, b.slots)
    live_a, live_b = np.zeros(n, bool), np.zeros(n, bool)
    live_a[: a.slots], live_b[: b.slots] = a.live, b.live
    assert np.array_equal(live_a, live_b)
    for i in np.flatnonzero(live_a):
        assert (a.names[i], a.types[i]) == (b.names[i], b.types[i])
    va, vb = (np.asarray(p.vectors)[np.flatnonzero(live_a)] for p in (a, b))
    assert np.array_equal(va, vb)
    assert sparse_equal(a.relations, b.relations)
    assert sparse_equal(a.synonyms, b.synonyms)


def parts_now(g: KnowledgeGraph) -> tuple[persist.Parts, persist.Parts, str]:
    """(the files plus the pending changes, a from-scratch build, where the reader's base came from)."""
    r = g.retriever
    r.db = g.db
    cfg = r.config
    with g.db.read() as s:
        conn = s.connection()
        _, generation = persist.state(conn)
        built = persist.build(conn, r._encoders(), cfg.entity_weights, cfg.graph.synonym_similarity,
                              cfg.graph.synonyms_per_entity)
        r._base = None
        incremental, source = r._parts(conn, generation)
    return incremental, built, source
