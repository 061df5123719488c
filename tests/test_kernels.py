"""The kernel (skdse/_engine/kernels.py): bandwidths, affinities and the diffusion operator.

With the regressions at the edges of floating point: float32 operators of
far-apart clusters, majority-duplicate rows, magnitudes near the float64
limits and vanishing bandwidths each gave a silent wrong number.
"""

import warnings

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from skdse import DiffusionSpectralEntropy, diffusion_spectral_entropy
from skdse._engine.kernels import BLOCK_ROWS, diffusion_operator, resolve_bandwidth


def naive_operator(X, sigma):
    G = np.exp(-cdist(X, X, "sqeuclidean") / (2 * sigma**2))
    d = G.sum(axis=1)
    return G / np.sqrt(np.outer(d, d))


@pytest.mark.parametrize("n", [5, BLOCK_ROWS, BLOCK_ROWS + 37])
def test_operator_matches_direct_formula(n):
    X = np.random.default_rng(n).normal(size=(n, 7)) * 3 + 50
    A, degrees = diffusion_operator(X, 2.5)
    np.testing.assert_allclose(A, naive_operator(X, 2.5), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(A, A.T, rtol=1e-14, atol=0)  # eigh reads one triangle
    np.testing.assert_allclose(degrees, np.exp(-cdist(X, X, "sqeuclidean") / 12.5).sum(axis=1))


def test_constant_X_has_zero_entropy_and_unit_bandwidth():
    X = np.full((30, 4), 7.0)
    for bw in ("scale", "median"):
        est = DiffusionSpectralEntropy(bandwidth=bw).fit(X)
        assert est.bandwidth_ == 1.0
        assert est.entropy_ == 0.0


def test_bandwidth_rules():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 4)) * [1, 2, 3, 4]
    assert resolve_bandwidth(X, 3.0) == 3.0
    assert resolve_bandwidth(X, "scale") == pytest.approx(np.sqrt(X.var(axis=0).sum() / 2))
    med = np.median(cdist(X, X)[np.triu_indices(500, 1)])
    assert resolve_bandwidth(X, "median") == pytest.approx(med)
    # more than 2000 points: a seeded subsample, reproducible
    big = rng.normal(size=(3000, 2))
    a = resolve_bandwidth(big, "median", random_state=0)
    assert a == resolve_bandwidth(big, "median", random_state=0)
    assert a == pytest.approx(np.sqrt(2) * 1.0 * 1.18, rel=0.05)  # median |N(0,2I)| in 2-D
    # mostly duplicated rows: the median of positive distances
    dup = np.repeat(rng.normal(size=(3, 2)), 10, axis=0)
    assert resolve_bandwidth(dup, "median") > 0


def test_wide_kernel_gives_near_zero_narrow_gives_log_n():
    X = np.random.default_rng(0).uniform(size=(64, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        assert diffusion_spectral_entropy(X, bandwidth=1e4) < 1e-3
        assert diffusion_spectral_entropy(X, bandwidth=1e-4) == pytest.approx(6.0, abs=1e-9)
