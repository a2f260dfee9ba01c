"""retrieve.graph.LocalPageRank: forward push against the exact personalised PageRank, and the work it does.

Exact scores come from a direct sparse solve of the power iteration's fixed point (walkers at a node without
edges restart at the seeds); graphs are seeded random ones, weighted, with isolated nodes and disconnected parts.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve

from retrieve.config import GraphConfig, RetrieverConfig
from retrieve.graph import LocalPageRank, personalized_pagerank, transition

D = 0.8


def exact(adj: sp.spmatrix, seeds: np.ndarray, damping: float = D) -> np.ndarray:
    """r = (1 - d) s + d M r, where M is the transition matrix with each column without edges replaced by s."""
    n = adj.shape[0]
    deg = np.asarray(adj.sum(axis=0), dtype=np.float64).ravel()
    s = seeds / seeds.sum()
    p = sp.csr_matrix(adj, dtype=np.float64) @ sp.diags(np.divide(1.0, deg, out=np.zeros(n), where=deg > 0))
    restart = sp.csr_matrix(s[:, None]) @ sp.csr_matrix((deg == 0)[None, :].astype(np.float64))
    return np.asarray(spsolve(sp.csc_matrix(sp.identity(n) - damping * (p + restart)), (1.0 - damping) * s))


def random_graph(rng: np.random.Generator, n: int = 400, parts: int = 3, isolated: float = 0.05) -> sp.csr_matrix:
    """Symmetric, weighted, in ``parts`` disconnected blocks, with a share of nodes that have no edges."""
    sizes = np.diff(np.linspace(0, n, parts + 1).astype(int))
    blocks = [sp.random(k, k, density=4.0 / k, random_state=rng, dtype=np.float32) for k in sizes]
    a = sp.block_diag(blocks, format="csr")
    keep = sp.diags((rng.random(n) >= isolated).astype(np.float32))
    a = keep @ (a + a.T) @ keep
    a.eliminate_zeros()
    return sp.csr_matrix(a)


def path(n: int) -> sp.csr_matrix:
    edges = np.ones(n - 1, dtype=np.float32)
    return sp.csr_matrix(sp.diags([edges, edges], [-1, 1]))


def degree(adj: sp.spmatrix) -> np.ndarray:
    return np.asarray(adj.sum(axis=1), dtype=np.float64).ravel()


@pytest.mark.parametrize("case", range(12))
@pytest.mark.parametrize("epsilon", [1e-3, 1e-5])
def test_push_is_below_the_exact_scores_by_at_most_epsilon_times_degree(case: int, epsilon: float) -> None:
    rng = np.random.default_rng(case)
    adj = random_graph(rng)
    deg = degree(adj)
    seeds = np.zeros(adj.shape[0])
    picked = rng.choice(adj.shape[0], size=1 + case % 4, replace=False)
    if case % 3 == 0:  # a seed without edges: its walkers restart at the seeds
        picked = np.append(picked, np.flatnonzero(deg == 0)[0])
    seeds[picked] = rng.random(len(picked)) + 0.1
    truth = exact(adj, seeds)
    nodes, scores = LocalPageRank(adj).push(seeds, D, epsilon)
    approx = np.zeros_like(truth)
    approx[nodes] = scores

    gap = truth - approx
    assert gap.min() >= -1e-12 and np.all(gap <= epsilon * deg + 1e-12)
    assert 1 - epsilon * deg.sum() <= approx.sum() <= 1 + 1e-12
    # Wherever the exact scores differ by more than the bound, push orders the nodes the same way.
    a, b = np.meshgrid(np.arange(len(truth)), np.arange(len(truth)), indexing="ij")
    separated = truth[a] - truth[b] > epsilon * deg[a]
    assert np.all(approx[a[separated]] > approx[b[separated]])
    top = np.argsort(-truth)[:10]
    if np.all(np.diff(truth[top]) < -epsilon * deg[top[:-1]]):
        assert list(np.argsort(-approx)[:10]) == list(top)


def test_exact_is_the_power_iterations_fixed_point() -> None:
    """The reference above is what ``personalized_pagerank`` converges to, isolated seeds included."""
    rng = np.random.default_rng(7)
    adj = random_graph(rng)
    seeds = np.zeros(adj.shape[0])
    seeds[[3, int(np.flatnonzero(degree(adj) == 0)[0]), 250]] = [1.0, 0.5, 2.0]
    power = personalized_pagerank(transition(adj), seeds, GraphConfig(damping=D, tol=1e-9, max_iter=500))
    assert np.abs(power - exact(adj, seeds)).max() < 1e-6


def test_a_seed_in_a_small_component_touches_only_that_component() -> None:
    rng = np.random.default_rng(1)
    small = random_graph(rng, n=30, parts=1, isolated=0.0)
    huge = sp.random(200_000, 200_000, density=5e-5, random_state=rng, dtype=np.float32)
    adj = sp.csr_matrix(sp.block_diag([small, huge + huge.T]))
    seeds = np.zeros(adj.shape[0])
    seeds[[0, 7]] = [1.0, 3.0]
    alone, together = LocalPageRank(small), LocalPageRank(adj)
    nodes, scores = together.push(seeds, D, 1e-6)
    small_nodes, small_scores = alone.push(seeds[:30], D, 1e-6)
    assert nodes.max() < 30 and list(nodes) == list(small_nodes)
    assert np.allclose(scores, small_scores) and (together.pushes, together.edges) == (alone.pushes, alone.edges)


@pytest.mark.parametrize("epsilon", [1e-2, 1e-4, 1e-6])
def test_work_on_a_path_does_not_grow_with_its_length(epsilon: float) -> None:
    work = []
    for n in (1_000, 100_000):
        walk = LocalPageRank(path(n))
        seeds = np.zeros(n)
        seeds[0] = 1.0
        nodes, _ = walk.push(seeds, D, epsilon)
        # Unit weights: the edges pushed are the pushed degrees, which sum to < 1 / (epsilon (1 - d)).
        assert walk.edges < 1 / (epsilon * (1 - D))
        work.append((len(nodes), walk.pushes, walk.edges))
    assert work[0] == work[1] and work[0][0] < 100


def test_work_arrays_are_clean_after_each_query_and_shared_safely() -> None:
    rng = np.random.default_rng(3)
    adj = random_graph(rng, n=2_000, parts=4)
    walk = LocalPageRank(adj)
    queries = []
    for node in rng.choice(2_000, size=16, replace=False):
        seeds = np.zeros(2_000, dtype=np.float32)
        seeds[[node, (node + 1) % 2_000]] = [1.0, 0.5]
        queries.append(seeds)
    alone = [LocalPageRank(adj)(q, GraphConfig(push_epsilon=1e-6)) for q in queries]
    with ThreadPoolExecutor(4) as pool:
        shared = list(pool.map(lambda q: walk(q, GraphConfig(push_epsilon=1e-6)), queries * 3))
    assert all(np.array_equal(a, b) for a, b in zip(alone * 3, shared))
    assert not (walk._residual.any() or walk._score.any() or walk._seen.any())


def test_dense_scores_keep_the_first_nodes_and_no_seeds_give_zeros() -> None:
    adj = random_graph(np.random.default_rng(5), n=100, parts=1)
    seeds = np.zeros(100)
    seeds[60] = 1.0
    walk = LocalPageRank(adj)
    full = walk(seeds, GraphConfig())
    assert full.dtype == np.float32 and full.shape == (100,)
    assert np.array_equal(walk(seeds, GraphConfig(), 40), full[:40])
    assert not walk(np.zeros(100), GraphConfig()).any()


def test_unknown_graph_method_is_refused() -> None:
    with pytest.raises(ValueError, match="push, power"):
        RetrieverConfig(graph=GraphConfig(method="walk")).check()
