"""kNN graphs (skdse/_engine/knn.py): the neighbour search, its ties, the kNN operator."""

import numpy as np
import pytest

from skdse._engine.knn import knn_search

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
