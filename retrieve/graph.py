"""Personalised PageRank over the entity-chunk graph with relation edges, by scipy sparse power iteration.

Nodes are the index's chunks (0 .. n-1) followed by its entities (n .. n+m-1). A chunk links to the entities
it mentions with their salience; entities link to each other through relations. Seeds are the query's entities
(weighted by specificity) and, optionally, top passages from the other channels, as HippoRAG 2 does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass
class GraphConfig:
    damping: float = 0.8  # probability of following an edge rather than jumping back to a seed
    relation_weight: float = 0.5  # scale of entity-entity edges against chunk-entity edges
    synonym_weight: float = 1.0  # scale of edges between entities with near-identical name embeddings
    synonym_similarity: float = 0.85  # least cosine for a synonym edge
    synonyms_per_entity: int = 5
    max_iter: int = 50
    tol: float = 1e-6


def synonym_edges(vectors: np.ndarray | None, threshold: float, per_entity: int, block: int = 1024) -> sp.csr_matrix:
    """Symmetric edges between entities whose (normalised) name embeddings have cosine >= ``threshold``, at most
    ``per_entity`` from each: 'Cassel' and 'Kassel', 'Ibsen' and 'Henrik Ibsen', as HippoRAG links synonyms."""
    if vectors is None or len(vectors) < 2 or per_entity <= 0:
        m = 0 if vectors is None else len(vectors)
        return sp.csr_matrix((m, m), dtype=np.float32)
    m = len(vectors)
    k = min(per_entity + 1, m)
    rows, cols, vals = [], [], []
    for start in range(0, m, block):
        sims = vectors[start : start + block] @ vectors.T
        idx = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        best = np.take_along_axis(sims, idx, axis=1)
        r = np.repeat(np.arange(start, start + len(sims)), k)
        c, v = idx.ravel(), best.ravel()
        keep = (v >= threshold) & (c != r)
        rows.append(r[keep])
        cols.append(c[keep])
        vals.append(v[keep])
    syn = sp.csr_matrix((np.concatenate(vals).astype(np.float32), (np.concatenate(rows), np.concatenate(cols))),
                        shape=(m, m))
    return syn.maximum(syn.T).tocsr()


def adjacency(chunk_entity: sp.spmatrix, relations: sp.spmatrix, relation_weight: float,
              synonyms: sp.spmatrix | None = None, synonym_weight: float = 1.0) -> sp.csr_matrix:
    """The symmetric weighted adjacency of the bipartite chunk-entity graph plus relation and synonym edges."""
    ce = sp.csr_matrix(chunk_entity, dtype=np.float32)
    rel = sp.csr_matrix(relations, dtype=np.float32)
    if rel.nnz:
        rel = rel.copy()
        rel.data = relation_weight * np.log1p(rel.data)
    if synonyms is not None and synonyms.nnz:
        rel = (rel + synonym_weight * sp.csr_matrix(synonyms, dtype=np.float32)).tocsr()
    n = ce.shape[0]
    return sp.bmat([[sp.csr_matrix((n, n), dtype=np.float32), ce], [ce.T, rel]], format="csr", dtype=np.float32)


def transition(adj: sp.spmatrix) -> sp.csr_matrix:
    """Column-stochastic transition matrix: P[i, j] is the chance of stepping from j to i."""
    out = np.asarray(adj.sum(axis=0)).ravel()
    inv = np.divide(1.0, out, out=np.zeros_like(out), where=out > 0)
    return sp.csr_matrix(adj @ sp.diags(inv.astype(np.float32)), dtype=np.float32)


def personalized_pagerank(p: sp.csr_matrix, seeds: np.ndarray, config: GraphConfig | None = None) -> np.ndarray:
    """Stationary visit probabilities of a walk that restarts at ``seeds`` (normalised to sum to one).

    Mass that reaches a node without out-edges returns to the seeds, so the result always sums to one.
    """
    cfg = config or GraphConfig()
    total = float(seeds.sum())
    if total <= 0:
        return np.zeros(p.shape[0], dtype=np.float32)
    s = (seeds / total).astype(np.float32)
    r = s.copy()
    for _ in range(cfg.max_iter):
        walked = cfg.damping * (p @ r)
        nxt = walked + (1.0 - float(walked.sum())) * s
        if float(np.abs(nxt - r).sum()) < cfg.tol:
            r = nxt
            break
        r = nxt
    return r
