"""The kernel (skdse/_engine/kernels.py): bandwidths, affinities and the diffusion operator.

With the regressions at the edges of floating point: float32 operators of
far-apart clusters, majority-duplicate rows, magnitudes near the float64
limits and vanishing bandwidths each gave a silent wrong number.
"""

import math
import warnings

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from skdse import (
    DiffusionSpectralEntropy,
    DiffusionSpectralMI,
    diffusion_spectral_entropy,
    diffusion_spectral_mutual_information,
)
from skdse._engine.kernels import BLOCK_ROWS, diffusion_operator, resolve_bandwidth
from skdse._engine.operators import MatrixFreeOperator, dense_operator

from ._data import dse
from ._tolerances import F32_TOL

X = np.random.default_rng(0).normal(size=(60, 4))

Y = np.repeat([0, 1, 2], 20)


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


def _far_clusters(n=400, d=8, gap=1e4, seed=0):
    X = np.random.default_rng(seed).normal(size=(n, d))
    X[: n // 2, 0] += gap
    return X


def test_float32_operators_accurate_for_far_clusters():
    X = _far_clusters()
    A, _ = diffusion_operator(X, 10.0)  # float64 reference
    V = np.random.default_rng(1).normal(size=(X.shape[0], 3))
    ref = A @ V
    for op in (
        dense_operator(X, 10.0, np.float32),
        MatrixFreeOperator(X, 10.0, block_rows=128, n_threads=1),
    ):
        # the float32 norm expansion of |z|^2 ~ 1e5 gave errors of order 1e-1
        assert np.abs(op.matmat(V) - ref).max() < 1e-4 * np.abs(ref).max()


def test_float32_entropy_and_its_standard_error_are_honest_for_far_clusters():
    X = _far_clusters(n=300)
    exact = dse(X, bandwidth=10.0, solver="exact")
    assert abs(dse(X, bandwidth=10.0, solver="exact", dtype="float32") - exact) < 1e-3
    for operator in ("dense", "matrix_free"):
        est = DiffusionSpectralEntropy(
            bandwidth=10.0, solver="slq", operator=operator, random_state=0
        ).fit(X)
        # within slq's own reported error (was 1-2 bits off with a std of 0.01)
        assert abs(est.entropy_ - exact) < 4 * est.entropy_std_ + 0.02


def test_dask_float32_kernels_accurate_for_far_clusters():
    da = pytest.importorskip("dask.array")
    import dask

    from skdse._engine.dask import DaskMatrixFreeOperator, dask_diffusion_operator

    X = _far_clusters(n=300)
    A, degrees = diffusion_operator(X, 10.0)
    Xd = da.from_array(X, chunks=(100, -1))
    V = np.random.default_rng(1).normal(size=(X.shape[0], 2))
    with dask.config.set(scheduler="synchronous"):
        A32, _ = dask.compute(*dask_diffusion_operator(Xd, 10.0, np.float32))
        free = DaskMatrixFreeOperator(Xd, 10.0)
        assert np.abs(free.matmat(V) - A @ V).max() < 1e-4 * np.abs(A @ V).max()
    assert np.abs(A32 - A).max() < 1e-5
    np.testing.assert_allclose(free.degrees, degrees, rtol=1e-5)


def test_median_bandwidth_of_majority_duplicates_is_translation_invariant():
    rng = np.random.default_rng(0)
    X = np.r_[np.repeat(rng.normal(size=(1, 16)), 90, axis=0), rng.normal(size=(10, 16))]
    sigma = resolve_bandwidth(X, "median")
    for shift in (1e4, -3.7e6):
        Y = X + shift
        # rounding gave the duplicates distances of ~1e-12 and sigma collapsed to ~1e-7
        assert resolve_bandwidth(Y, "median") == pytest.approx(sigma, rel=1e-6)
        assert dse(Y, bandwidth="median") == pytest.approx(dse(X, bandwidth="median"), abs=1e-6)


def test_median_bandwidth_counts_duplicated_pairs():
    a, b = np.random.default_rng(0).normal(size=(2, 16))
    ab = np.linalg.norm(a - b)
    # 6 rows at a, 4 at b: 15 + 6 zero pairs out of 45, so the median is |a - b|
    X = np.r_[np.repeat([a], 6, axis=0), np.repeat([b], 4, axis=0)]
    assert resolve_bandwidth(X, "median") == pytest.approx(ab, rel=1e-12)
    # zeros the majority (90/10, and 8/2 far from the origin): the positive distances decide
    # (rounding used to give the duplicates ~1e-8 and sigma collapsed to that)
    X = np.r_[np.repeat([a], 90, axis=0), np.repeat([b], 10, axis=0)]
    assert resolve_bandwidth(X, "median") == pytest.approx(ab, rel=1e-12)
    X = np.r_[np.repeat([a], 8, axis=0), np.repeat([b], 2, axis=0)] + 1e6
    assert resolve_bandwidth(X, "median") == pytest.approx(ab, rel=1e-8)


@pytest.mark.parametrize("bandwidth", ["scale", "median"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_adaptive_bandwidths_are_scale_invariant_at_extreme_magnitudes(bandwidth, dtype):
    X = np.random.default_rng(0).normal(size=(40, 4))
    ref = dse(X, bandwidth=bandwidth)
    sigma = resolve_bandwidth(X, bandwidth)
    scales = (1e160, 1e-170, 1e300, 1e-300) if dtype == "float64" else (1e20, 1e-23, 1e35)
    for c in scales:
        Xc = (c * X).astype(dtype)
        assert resolve_bandwidth(Xc, bandwidth) == pytest.approx(c * sigma, rel=1e-5)
        assert dse(Xc, bandwidth=bandwidth, dtype=dtype) == pytest.approx(ref, abs=1e-5)


def test_fixed_bandwidth_kernel_does_not_overflow():
    X = 1.0 + np.abs(np.random.default_rng(0).normal(size=(30, 3)))
    for c in (1e307, 1e-200):  # the column sums of 1e307 * X overflow
        assert dse(c * X, bandwidth=2.0 * c) == pytest.approx(dse(X, bandwidth=2.0), abs=1e-9)


def test_sigma_beyond_float64_refused():
    X = np.zeros((4, 30))
    X[0] = 1.7e308
    with pytest.raises(ValueError, match="bandwidth='scale'.*Rescale X"):
        resolve_bandwidth(X, "scale")


def test_vanishing_bandwidth_gives_its_limit():
    X = np.random.default_rng(0).normal(size=(20, 3))
    assert dse(X, bandwidth=1e-200) == pytest.approx(math.log2(20), abs=1e-12)
    assert dse(X, bandwidth=5e-324) == pytest.approx(math.log2(20), abs=1e-12)
    # duplicates stay together: 12 distinct rows, isolated from each other
    Xd = np.r_[X[:12], X[:8]]
    assert dse(Xd, bandwidth=1e-200) == pytest.approx(math.log2(12), abs=1e-12)
    with pytest.warns(UserWarning, match="too small"):
        diffusion_spectral_entropy(X, bandwidth=1e-200)


def test_data_near_the_largest_float():
    # no RuntimeWarning either (the suite turns them into errors): scikit-learn's
    # finiteness check sums X (inf - inf) under skdse's errstate
    X = np.clip(np.random.default_rng(0).normal(size=(40, 3)), -2, 2) * 8e307
    h = dse(X, bandwidth="scale")
    assert h == pytest.approx(dse(X / 8e307, bandwidth="scale"), abs=1e-9)
    assert dse(X, bandwidth=1.0) == pytest.approx(math.log2(40), abs=1e-12)


def test_matrix_free_on_a_large_feature_with_a_small_bandwidth():
    X = np.random.default_rng(0).normal(size=(200, 3))
    X[:, 0] *= 1e6
    X[100:] = X[:100] + 0.1  # each point has one neighbour within the bandwidth
    ref = dse(X, bandwidth=1.0, solver="exact")
    est = DiffusionSpectralEntropy(
        bandwidth=1.0, solver="slq", operator="matrix_free", random_state=0
    ).fit(X)
    assert np.isfinite(est.entropy_)
    assert abs(est.entropy_ - ref) < 4 * est.entropy_std_ + 0.02


@pytest.mark.parametrize("kw", [{}, {"bandwidth": "median"}, {"affinity": "knn"}])
def test_subnormal_data_is_measured_like_its_rescaled_copy(kw):
    """X near 1e-310 (subnormal): its power-of-two rescaling needs 2**1030, beyond float64.

    Subnormals keep fewer digits (about 2e-14 relative at 1e-310), so the
    measure agrees with the unscaled data's to that rounding.
    """
    X = np.random.default_rng(0).normal(size=(40, 3))
    expected = diffusion_spectral_entropy(X, **kw)
    assert abs(diffusion_spectral_entropy(X * 1e-310, **kw) - expected) < 1e-9


@pytest.mark.parametrize("scale", [1e-300, 1e-42, 1e300])
def test_float32_operator_keeps_float64_data_beyond_float32_range(scale):
    # dtype="float32" is the operator's precision: the data were cast to
    # float32 first, so 1e-300 * X became all zeros (DSE 0, silently) and
    # 1e300 * X was refused as too large for float32.
    ref = diffusion_spectral_entropy(X, solver="exact")
    Xc = scale * X
    assert diffusion_spectral_entropy(Xc, solver="exact", dtype="float32") == pytest.approx(
        ref, abs=F32_TOL
    )
    est = DiffusionSpectralEntropy(solver="exact", dtype="float32").fit(Xc)
    assert est.entropy_ == pytest.approx(ref, abs=F32_TOL)
    assert est.score(Xc) == est.entropy_  # same process, same path
    mi = diffusion_spectral_mutual_information(Xc, Y, solver="exact", random_state=0)
    mi32 = DiffusionSpectralMI(solver="exact", dtype="float32", random_state=0).fit(Xc, Y)
    assert mi32.mutual_information_ == pytest.approx(mi, abs=10 * F32_TOL)


def test_float32_operator_on_torch_keeps_small_values():
    torch = pytest.importorskip("torch")
    ref = diffusion_spectral_entropy(X, solver="exact")
    h = diffusion_spectral_entropy(torch.asarray(1e-300 * X), solver="exact", dtype="float32")
    assert h == pytest.approx(ref, abs=F32_TOL)


def test_float32_operator_keeps_small_values_of_a_dask_array():
    # the Dask path cast the chunks to float32 too: 1e-300 * X became zeros
    da = pytest.importorskip("dask.array")
    ref = diffusion_spectral_entropy(X, solver="exact")
    Xd = da.from_array(1e-300 * X, chunks=(20, 4))
    h = diffusion_spectral_entropy(Xd, solver="exact", dtype="float32")
    assert h == pytest.approx(ref, abs=F32_TOL)
