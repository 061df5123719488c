"""The kNN affinity's neighbour search: exact, approximate (pynndescent), and the choice.

The first approximate search of a process compiles pynndescent's numba code
(tens of seconds on a 2-core machine, once); the tests share one module-level
search where they can.
"""

import sys

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.utils._param_validation import InvalidParameterError

import skdse
from skdse._engine import knn
from skdse._engine.knn import APPROXIMATE_MIN, knn_search, resolve_neighbors

N = 3000
X = make_blobs(N, 16, centers=5, random_state=0)[0]


def _recall(exact_idx, approx_idx):
    return sum(len(set(a).intersection(b)) for a, b in zip(exact_idx, approx_idx)) / exact_idx.size


@pytest.fixture(scope="module")
def searches():
    pytest.importorskip("pynndescent")
    return knn_search(X, 15, "exact"), knn_search(X, 15, "approximate", 0)


def test_approximate_recall_at_default_settings(searches):
    (_, exact_idx), (_, approx_idx) = searches
    assert _recall(exact_idx, approx_idx) >= 0.95


def test_approximate_distances_are_measured_as_the_exact_search_measures_them(searches):
    (exact_dist, exact_idx), (dist, idx) = searches
    assert dist.shape == idx.shape == (N, 16)
    assert (idx[:, 0] == np.arange(N)).all() and (dist[:, 0] == 0).all()  # itself first
    assert (np.diff(dist, axis=1) >= 0).all()
    # every pair both searches found carries the same distance (same arithmetic)
    same = exact_idx == idx
    assert same.mean() > 0.9
    np.testing.assert_array_equal(dist[same], exact_dist[same])
    # rows are their own distinct neighbours
    assert all(len(set(row)) == 16 for row in idx)


def test_approximate_dse_close_to_exact():
    pytest.importorskip("pynndescent")
    Y = X[:800]
    kw = dict(affinity="knn", solver="exact", max_samples=None, random_state=0)
    exact = skdse.diffusion_spectral_entropy(Y, neighbors="exact", **kw)
    approx = skdse.diffusion_spectral_entropy(Y, neighbors="approximate", **kw)
    assert abs(exact - approx) <= 0.02
    again = skdse.diffusion_spectral_entropy(Y, neighbors="approximate", **kw)
    assert again == approx  # the search is seeded from random_state


def test_same_graph_same_probes():
    # well-separated small data: both searches find the same graph, and the
    # approximate search's seed is drawn without moving the probes' stream
    pytest.importorskip("pynndescent")
    Y = make_blobs(400, 3, centers=3, cluster_std=0.5, random_state=1)[0]
    assert (knn_search(Y, 10, "exact")[1] == knn_search(Y, 10, "approximate", 3)[1]).all()
    kw = dict(affinity="knn", n_neighbors=10, solver="slq", max_samples=None, random_state=5)
    kw.update(n_lanczos_steps=10, n_probes=8, n_deflate=8)
    exact = skdse.diffusion_spectral_entropy(Y, neighbors="exact", **kw)
    approx = skdse.diffusion_spectral_entropy(Y, neighbors="approximate", **kw)
    assert approx == pytest.approx(exact, abs=1e-12)


@pytest.mark.parametrize("scale", [1e-200, 1e200])
def test_approximate_search_is_scale_safe(scale):
    pytest.importorskip("pynndescent")
    Y = make_blobs(300, 4, centers=3, random_state=2)[0]
    dist, idx = knn_search(Y, 8, "approximate", 0)
    sdist, sidx = knn_search(Y * scale, 8, "approximate", 0)
    np.testing.assert_array_equal(sidx, idx)
    np.testing.assert_allclose(sdist, dist * scale, rtol=1e-12)


def test_approximate_search_with_duplicates_and_few_points():
    pytest.importorskip("pynndescent")
    Y = np.repeat(make_blobs(40, 3, random_state=3)[0], 3, axis=0)  # every row three times
    dist, idx = knn_search(Y, 5, "approximate", 0)
    assert (dist[:, :3] == 0).all()  # a point's two copies and itself, at distance 0
    assert (np.sort(idx[:, :3], axis=1) == (np.arange(120)[:, None] // 3) * 3 + [0, 1, 2]).all()
    tiny = make_blobs(6, 2, random_state=4)[0]
    np.testing.assert_array_equal(
        knn_search(tiny, 15, "approximate", 0)[0], knn_search(tiny, 15, "exact")[0]
    )


def test_auto_is_exact_below_the_measured_size_and_on_request():
    assert resolve_neighbors(APPROXIMATE_MIN, "auto") == "exact"
    assert resolve_neighbors(10**7, "exact") == "exact"
    assert resolve_neighbors(10, "approximate") == "approximate"
    expected = "approximate" if knn.has_pynndescent() else "exact"
    assert resolve_neighbors(APPROXIMATE_MIN + 1, "auto") == expected


def test_bad_neighbors_value_names_the_parameter():
    with pytest.raises(InvalidParameterError, match="'neighbors' parameter"):
        skdse.diffusion_spectral_entropy(X[:50], affinity="knn", neighbors="fast")
    with pytest.raises(InvalidParameterError, match="'neighbors' parameter"):
        skdse.DiffusionSpectralEntropy(affinity="knn", neighbors=1).fit(X[:50])


def test_without_pynndescent_auto_falls_back_and_approximate_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynndescent", None)  # import pynndescent -> ImportError
    assert not knn.has_pynndescent()
    assert resolve_neighbors(10**7, "auto") == "exact"
    with pytest.raises(ImportError, match="pip install pynndescent"):
        skdse.diffusion_spectral_entropy(X[:100], affinity="knn", neighbors="approximate")
    Y = X[:200]
    assert skdse.diffusion_spectral_entropy(
        Y, affinity="knn", neighbors="auto"
    ) == skdse.diffusion_spectral_entropy(Y, affinity="knn", neighbors="exact")
