"""kNN graphs (skdse/_engine/knn.py): the neighbour search, its ties, the kNN operator."""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.spatial.distance import cdist

from skdse._engine.knn import knn_operator, knn_search

from ._data import dse


def _grid(n=10):
    return np.array([[i, j] for i in range(n) for j in range(n)], dtype=float)


def test_knn_affinity_does_not_depend_on_row_order_with_ties():
    g = _grid(12)
    ref = dse(g, affinity="knn", n_neighbors=5)
    for seed in range(3):
        perm = np.random.default_rng(seed).permutation(len(g))
        assert dse(g[perm], affinity="knn", n_neighbors=5) == pytest.approx(ref, abs=1e-9)


def test_knn_search_breaks_ties_by_value():
    g = _grid(6)
    perm = np.random.default_rng(0).permutation(len(g))
    dist, idx = knn_search(g, 4)
    pdist, pidx = knn_search(g[perm], 4)
    np.testing.assert_array_equal(pdist, dist[perm])
    # the same neighbours (as points), in the same order
    np.testing.assert_array_equal(g[perm][pidx], g[idx][perm])
    assert (dist[:, 0] == 0).all()


def test_dask_knn_search_equals_the_in_memory_one_with_ties():
    da = pytest.importorskip("dask.array")
    import dask

    from skdse._engine.dask import dask_knn_search

    g = _grid(9)[np.random.default_rng(0).permutation(81)]
    with dask.config.set(scheduler="synchronous"):
        dist, idx = dask_knn_search(da.from_array(g, chunks=(20, -1)), 6)
    ref_dist, ref_idx = knn_search(g, 6)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(dist, ref_dist)  # same pairs, same arithmetic


def test_knn_operator_is_symmetric_and_stochastic():
    X = np.random.default_rng(0).normal(size=(300, 4))
    op = knn_operator(X, 10)
    A = op.A
    assert sp.issparse(A)
    assert abs(A - A.T).max() < 1e-15
    # A = D^-1/2 G D^-1/2: the random-walk matrix D^-1 G has rows summing to 1
    d = op.degrees
    P = sp.diags(1 / np.sqrt(d)) @ A @ sp.diags(np.sqrt(d))
    np.testing.assert_allclose(np.asarray(P.sum(axis=1)).ravel(), 1.0, rtol=1e-12)
    # each point keeps at least its 10 neighbours (plus itself), and only graph edges
    nnz_per_row = np.diff(A.indptr)
    assert nnz_per_row.min() >= 11 and nnz_per_row.max() < 300
    # weights follow exp(-d^2 / (2 sigma_i sigma_j)) with sigma_i the 10th-neighbour distance
    D = cdist(X, X)
    sig = np.sort(D, axis=1)[:, 10]
    G = sp.diags(np.sqrt(d)) @ A @ sp.diags(np.sqrt(d))
    i, j = G.nonzero()
    np.testing.assert_allclose(
        np.asarray(G[i, j]).ravel(), np.exp(-(D[i, j] ** 2) / (2 * sig[i] * sig[j])), rtol=1e-12
    )
    np.testing.assert_allclose(sig, op.sigmas)
