"""Personalised PageRank over the entity-chunk graph with relation edges: local forward push, or power iteration.

Nodes are the index's chunks (0 .. n-1) followed by its entities (n .. n+m-1). A chunk links to the entities
it mentions with their salience; entities link to each other through relations. Seeds are the query's entities
(weighted by specificity) and, optionally, top passages from the other channels, as HippoRAG 2 does.
"""

from __future__ import annotations

import threading

import numpy as np
import scipy.sparse as sp

from retrieve.config import GraphConfig


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


class LocalPageRank:
    """Personalised PageRank by forward push (Andersen, Chung and Lang 2006): a query costs the volume of the
    nodes it pushes, not the size of the graph. Built once per graph, then shared by queries and threads.

    A push moves (1 - d) of a node's residual into its score and spreads d over its edges by weight, while some
    node holds more residual than ``epsilon`` times its weighted degree. On a symmetric graph (as ``adjacency``
    builds) each score is then at most ``epsilon * degree(v)`` below the fixed point of ``personalized_pagerank``,
    never above it, and (when every seed has edges) the degrees of all pushes sum to under 1 / (epsilon * (1 - d)).
    """

    def __init__(self, adj: sp.spmatrix):
        a = sp.csr_matrix(adj)  # symmetric: row u holds u's out-edges, which are column u of ``transition``
        self.indptr, self.indices, self.weights = a.indptr, a.indices, a.data
        self.degree = np.asarray(a.astype(np.float64).sum(axis=1)).ravel()  # float32 sums drift by 1e-5
        # Work arrays, zero between calls: a call resets only the entries it touched.
        self._residual = np.zeros(a.shape[0])
        self._score = np.zeros(a.shape[0])
        self._seen = np.zeros(a.shape[0], dtype=bool)
        self._lock = threading.Lock()
        self.pushes = self.edges = 0  # work of the last call: node pushes, and the edges they spread over

    def __call__(self, seeds: np.ndarray, config: GraphConfig, size: int | None = None) -> np.ndarray:
        """Dense scores of nodes 0 .. size - 1 (default: all), in the shape ``personalized_pagerank`` returns."""
        nodes, scores = self.push(seeds, config.damping, config.push_epsilon)
        out = np.zeros(len(seeds) if size is None else size, dtype=np.float32)
        keep = nodes < len(out)
        out[nodes[keep]] = scores[keep]
        return out

    def push(self, seeds: np.ndarray, damping: float, epsilon: float) -> tuple[np.ndarray, np.ndarray]:
        """The nodes the walk touched (ascending) and their scores; every other node scores 0."""
        start = np.flatnonzero(seeds)
        s = seeds[start].astype(np.float64)
        if s.sum() <= 0:
            return start[:0], s[:0]
        s /= s.sum()
        deg = self.degree
        # A seed without edges keeps (1 - d) of its share and sends d back to the seeds, as the power iteration
        # does: that scales every score by 1 / (1 - d * share), so the threshold shrinks to keep the bound.
        scale = 1.0 / (1.0 - damping * float(s[deg[start] == 0].sum()))
        eps = epsilon / scale
        n = len(deg)
        with self._lock:
            r, p, seen = self._residual, self._score, self._seen
            r[start] = s
            seen[start] = True
            touched, frontier, pushes, edges = [start], start, 0, 0
            while True:  # push every node over the threshold at once, then look only where mass arrived
                active = frontier[r[frontier] > eps * deg[frontier]]
                if not active.size:
                    break
                mass = r[active]
                r[active] = 0.0
                p[active] += (1.0 - damping) * mass
                lo = self.indptr[active]
                count = self.indptr[active + 1] - lo
                edge = np.repeat(lo - np.cumsum(count) + count, count) + np.arange(count.sum())
                spread = np.divide(damping * mass, deg[active], out=np.zeros_like(mass), where=deg[active] > 0)
                targets, flow = self.indices[edge], np.repeat(spread, count) * self.weights[edge]
                if 16 * edge.size > n:  # a round over much of the graph: a dense sum is cheaper than sorting
                    arrived = np.bincount(targets, flow, n)
                    frontier = np.flatnonzero(arrived)
                    r[frontier] += arrived[frontier]
                else:
                    frontier, where = np.unique(targets, return_inverse=True)
                    r[frontier] += np.bincount(where, flow, len(frontier))
                new = frontier[~seen[frontier]]
                seen[new] = True
                touched.append(new)
                pushes, edges = pushes + active.size, edges + edge.size
            nodes = np.sort(np.concatenate(touched))
            scores = (p[nodes] + (1.0 - damping) * r[nodes]) * scale  # what is left keeps at least (1 - d) in place
            r[nodes], p[nodes], seen[nodes] = 0.0, 0.0, False
            self.pushes, self.edges = pushes, edges
        return nodes, scores


def shortest_path(adj: sp.csr_matrix, sources: np.ndarray, target: int, max_hops: int = 6) -> list[int] | None:
    """A path with the fewest hops from any of ``sources`` to ``target`` (nodes in order), or None when there is
    none within ``max_hops``. Bidirectional breadth-first search that always grows the side whose frontier has
    fewer edges, so the cost follows the neighbourhoods of the two ends, not the graph: a hub on one side is
    expanded only when the other side's frontier is larger still. ``adj`` is symmetric."""
    indptr, indices = adj.indptr, adj.indices
    start = [np.unique(np.asarray(sources, dtype=np.int64)), np.array([target], dtype=np.int64)]
    if not len(start[0]):
        return None
    if np.isin(target, start[0]):
        return [int(target)]
    # Per side, its layers: (nodes reached at that distance, sorted; the node each was reached from).
    layers: list[list[tuple[np.ndarray, np.ndarray]]] = [[(s, s)] for s in start]
    seen = list(start)  # every node of a side, sorted
    for _ in range(max_hops):
        volume = [int((indptr[lay[-1][0] + 1] - indptr[lay[-1][0]]).sum()) for lay in layers]
        side = 0 if volume[0] <= volume[1] else 1
        f = layers[side][-1][0]
        lo = indptr[f]
        count = indptr[f + 1] - lo
        edge = np.repeat(lo - np.cumsum(count) + count, count) + np.arange(count.sum())
        reached, first = np.unique(indices[edge].astype(np.int64), return_index=True)
        origin = np.repeat(f, count)[first]  # the first edge that reaches each node
        new = ~np.isin(reached, seen[side], assume_unique=True)
        reached, origin = reached[new], origin[new]
        if not len(reached):
            return None
        layers[side].append((reached, origin))
        meet = reached[np.isin(reached, seen[1 - side], assume_unique=True)]
        if len(meet):
            m = int(meet[0])
            halves = []
            for s in (0, 1):
                walk, node = [], m
                depth = next(i for i, (nodes, _) in enumerate(layers[s]) if np.isin(node, nodes))
                for nodes, via in reversed(layers[s][:depth + 1]):
                    walk.append(node)
                    node = int(via[np.searchsorted(nodes, node)])
                halves.append(walk)
            return halves[0][::-1] + halves[1][1:]
        seen[side] = np.union1d(seen[side], reached)
    return None
