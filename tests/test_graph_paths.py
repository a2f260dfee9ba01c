"""retrieve.graph.shortest_path: the explanation path of a result, against networkx on random graphs."""

from __future__ import annotations

import random

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

from retrieve.graph import shortest_path


def csr(g: nx.Graph, n: int) -> sp.csr_matrix:
    return sp.csr_matrix(nx.to_scipy_sparse_array(g, nodelist=range(n), format="csr"))


@pytest.mark.parametrize("case", range(200))
def test_fewest_hops_from_any_source_within_the_limit(case: int) -> None:
    rnd = random.Random(case)
    n = rnd.randint(2, 40)
    g = nx.gnm_random_graph(n, rnd.randint(0, 70), seed=case)
    sources = rnd.sample(range(n), rnd.randint(1, min(3, n)))
    target, limit = rnd.randrange(n), rnd.randint(1, 6)
    path = shortest_path(csr(g, n), np.array(sources), target, max_hops=limit)
    hops = min((nx.shortest_path_length(g, s, target) for s in sources if nx.has_path(g, s, target)), default=None)
    if hops is None or hops > limit:
        assert path is None
    else:
        assert path is not None and len(path) - 1 == hops
        assert path[0] in sources and path[-1] == target
        assert all(g.has_edge(a, b) for a, b in zip(path, path[1:]))


def test_a_hub_between_the_ends_is_crossed_not_expanded() -> None:
    """Source 0 and target 1 meet at hub 2, which has 50,000 other neighbours joined in a ring."""
    leaves = 50_000
    edges = [(0, 2), (1, 2)] + [(2, 3 + i) for i in range(leaves)] + [(3 + i, 3 + (i + 1) % leaves)
                                                                      for i in range(leaves)]
    g = nx.Graph(edges)
    adj = csr(g, leaves + 3)
    assert shortest_path(adj, np.array([0]), 1) == [0, 2, 1]
    assert shortest_path(adj, np.array([0]), 1, max_hops=1) is None
    assert shortest_path(adj, np.array([0, 1]), 1) == [1]
