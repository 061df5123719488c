"""RankMe's effective rank and the Vendi score (skdse.baselines), against direct computations.

The effective rank is checked against a direct NumPy SVD and its closed-form
values; the Vendi score against the ``vendi-score`` package (a test
dependency) on a Gaussian kernel built here from its definition.
"""

import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.spatial.distance import cdist, pdist
from scipy.stats import ortho_group

from skdse import DiffusionSpectralEntropy
from skdse._engine.spectrum import spectral_entropy
from skdse.baselines import EffectiveRank, VendiScore, effective_rank, vendi_score

EPS = np.finfo(np.float64).eps
#: The effective rank is exp(H) with H a sum of min(N, D) terms -p log p of the
#: normalised singular values. The SVD is backward stable: each singular value
#: moves by about D eps of the largest, and |d(-p log p)/dp| <= 40 for
#: p >= 1e-17, so H (and the rank, relatively) by at most ~ 40 D^2 eps. For
#: the sizes here (D <= 12) that is 1.3e-12; 1e-11 leaves a margin.
RANK_RTOL = 1e-11

seeds = st.integers(0, 2**32 - 1)
sizes = st.integers(2, 30)
dims = st.integers(1, 8)
orders = st.one_of(st.floats(0.2, 20.0), st.just(1.0), st.just(math.inf))
bandwidths = st.one_of(st.floats(0.1, 20.0), st.sampled_from(["scale", "median"]))


def _renyi(weights, order):
    """Rényi entropy (nats) of the distribution proportional to ``weights``."""
    return spectral_entropy(np.asarray(weights, dtype=float), 1.0, math.e, order)


def _data(seed, n, d, scale=1.0):
    return scale * np.random.default_rng(seed).normal(size=(n, d))


def _direct_rank(X, eps=0.0):
    s = np.linalg.svd(X, compute_uv=False)
    p = s / s.sum() + eps
    p = p[p > 0]
    return float(np.exp(-np.sum(p * np.log(p))))


# --- effective rank ---------------------------------------------------------


@pytest.mark.parametrize("shape", [(50, 3), (7, 12), (200, 10), (2, 1), (12, 12)])
def test_effective_rank_matches_direct_svd(shape):
    X = np.random.default_rng(sum(shape)).normal(size=shape) + 0.3  # not centred
    assert effective_rank(X) == pytest.approx(_direct_rank(X), rel=RANK_RTOL)
    est = EffectiveRank().fit(X)
    assert est.effective_rank_ == pytest.approx(_direct_rank(X), rel=RANK_RTOL)
    np.testing.assert_allclose(
        est.singular_values_, np.linalg.svd(X, compute_uv=False), rtol=1e-12, atol=1e-12 * X.max()
    )


def test_rankme_eps_is_their_formula():
    # RankMe's code: p = s / sum(s) + eps, entropy of p as it is (not renormalised).
    X = np.random.default_rng(1).normal(size=(40, 6)) * [1, 1, 1, 1e-3, 0, 0]
    assert effective_rank(X, eps=1e-7) == pytest.approx(_direct_rank(X, 1e-7), rel=RANK_RTOL)
    assert EffectiveRank(eps=1e-7).fit(X).effective_rank_ == pytest.approx(
        _direct_rank(X, 1e-7), rel=RANK_RTOL
    )
    # Two exact zeros each add -eps log eps: the shift documented.
    assert effective_rank(X, eps=1e-7) > effective_rank(X)


@pytest.mark.parametrize("k", [1, 2, 5, 9])
def test_effective_rank_of_k_orthogonal_directions_is_k(k):
    Q = ortho_group.rvs(30, random_state=k)[:, :k]  # k orthonormal columns
    V = ortho_group.rvs(9, random_state=k + 1)[:k]  # k orthonormal rows
    assert effective_rank(3.7 * Q @ V) == pytest.approx(k, rel=RANK_RTOL)


def test_effective_rank_closed_forms():
    # Singular values (a, b): p = (a, b) / (a + b).
    a, b = 3.0, 1.0
    p = np.array([a, b]) / (a + b)
    expected = math.exp(-np.sum(p * np.log(p)))
    assert effective_rank(np.diag([a, b])) == pytest.approx(expected, rel=1e-14)
    assert effective_rank(np.ones((10, 4))) == pytest.approx(1.0, rel=1e-14)  # rank one
    assert effective_rank(np.zeros((5, 3))) == 0.0  # rank zero
    assert EffectiveRank().fit(np.zeros((5, 3))).effective_rank_ == 0.0


def test_effective_rank_is_not_centred():
    X = _data(0, 300, 3)
    assert effective_rank(X) > 2.8
    assert effective_rank(X + 100.0) < 1.1  # the offset dominates: one direction


@given(seeds, sizes, dims)
def test_effective_rank_bounds(seed, n, d):
    X = _data(seed, n, d)
    r = effective_rank(X)
    assert 1.0 - 1e-12 <= r <= min(n, d) * (1 + 1e-12)
    assert r <= np.linalg.matrix_rank(X) * (1 + 1e-12)


@given(seeds, sizes, st.integers(1, 8), st.floats(-12, 12))
def test_effective_rank_invariances(seed, n, d, log_scale):
    X = _data(seed, n, d) + 0.5
    r = effective_rank(X)
    rng = np.random.default_rng(seed)
    R = ortho_group.rvs(d, random_state=seed) if d > 1 else np.ones((1, 1))
    assert effective_rank(X @ R) == pytest.approx(r, rel=RANK_RTOL)  # rotating the features
    assert effective_rank(X[rng.permutation(n)]) == pytest.approx(r, rel=RANK_RTOL)
    assert effective_rank(10.0**log_scale * X) == pytest.approx(r, rel=RANK_RTOL)
    if n > 1 and d > 1:
        assert effective_rank(X.T) == pytest.approx(r, rel=RANK_RTOL)


@pytest.mark.parametrize("scale", [1e307, 1e-300, 1e-310])
def test_effective_rank_at_the_float64_limits(scale):
    # sum(s) overflows at 1e307 and squares underflow at 1e-300 without rescaling.
    X = np.random.default_rng(0).uniform(0.1, 1.0, size=(400, 4))
    X[:, 0] *= 10
    assert effective_rank(scale * X) == pytest.approx(effective_rank(X), rel=1e-9)


def test_effective_rank_on_array_api_arrays():
    X = _data(3, 40, 5)
    expected = effective_rank(X)
    xps = pytest.importorskip("array_api_strict")
    assert effective_rank(xps.asarray(X)) == pytest.approx(expected, rel=RANK_RTOL)
    torch = pytest.importorskip("torch")
    assert effective_rank(torch.asarray(X)) == pytest.approx(expected, rel=RANK_RTOL)
    assert effective_rank(torch.asarray(X, dtype=torch.float32)) == pytest.approx(
        expected, rel=1e-5
    )


# --- Rényi entropy ----------------------------------------------------------


@given(st.integers(1, 50), orders)
def test_renyi_of_uniform_is_log_n(n, q):
    assert _renyi(np.full(n, 0.37), q) == pytest.approx(math.log(n), rel=1e-12, abs=1e-15)


@given(seeds, st.integers(2, 40))
def test_renyi_limits_and_monotone(seed, n):
    w = np.random.default_rng(seed).exponential(size=n) ** 3
    shannon, inf = _renyi(w, 1.0), _renyi(w, math.inf)
    # Continuous at q = 1 (the expm1 branch): H_q = H_1 + O(q - 1).
    for dq in (1e-12, 1e-8, -1e-8):
        assert _renyi(w, 1.0 + dq) == pytest.approx(shannon, rel=1e-6, abs=1e-9)
    # q = inf is the limit, and H_q is non-increasing in q.
    assert _renyi(w, 1e4) == pytest.approx(inf, rel=1e-3, abs=1e-3)
    hs = [_renyi(w, q) for q in (0.1, 0.5, 0.99, 1.0, 1.01, 2.0, 7.0, 200.0, math.inf)]
    assert np.all(np.diff(hs) <= 1e-12)
    assert _renyi(w, 2.0) == pytest.approx(-math.log(np.sum((w / w.sum()) ** 2)))


# --- Vendi score --------------------------------------------------------------


def _kernel(X, sigma):
    return np.exp(-cdist(X, X, "sqeuclidean") / (2.0 * sigma**2))


def _sigma(X, bandwidth):
    """The bandwidths from their definitions (skdse.diffusion_spectral_entropy)."""
    if bandwidth == "scale":  # 2 sigma^2 = total variance
        return math.sqrt(X.var(axis=0).sum() / 2.0)
    if bandwidth == "median":
        return float(np.median(pdist(X)))
    return bandwidth


def _vendi_package(K, q):
    from vendi_score import vendi  # test dependency: vendi-score

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # its scipy.sparse.csr check
        return float(vendi.score_K(K, q="inf" if math.isinf(q) else q))


def _vendi_rtol(n, q):
    """Tolerance from the eigensolver's absolute error, about N eps per eigenvalue of K / N.

    q >= 1: |dH_q / d lambda_i| <= q / |q - 1| / lambda_max^... stays below
    ~ 40 (q = 1) and 2 N (q = 2, inf), so H moves by at most ~ 50 N^2 eps.
    q < 1: lambda^q is only Hölder-continuous, |a^q - b^q| <= |a - b|^q, and
    sum lambda^q >= 1, so H moves by at most N (N eps)^q / (1 - q).
    """
    if q < 1:
        return n * (n * EPS) ** q / (1 - q)
    return 50 * n * n * EPS


@pytest.mark.parametrize("q", [0.5, 1.0, 2.0, math.inf])
@pytest.mark.parametrize("bandwidth", ["scale", "median", 0.3, 3.0])
@pytest.mark.parametrize("shape", [(30, 2), (90, 6)])
def test_vendi_score_matches_vendi_score_package(q, bandwidth, shape):
    X = np.random.default_rng(shape[0]).normal(size=shape) * [2.0] + [1.0] * shape[1]
    expected = _vendi_package(_kernel(X, _sigma(X, bandwidth)), q)
    got = vendi_score(X, bandwidth=bandwidth, order=q, random_state=0)
    assert got == pytest.approx(expected, rel=_vendi_rtol(shape[0], q))
    est = VendiScore(bandwidth=bandwidth, order=q, random_state=0).fit(X)
    assert est.bandwidth_ == pytest.approx(_sigma(X, bandwidth), rel=1e-12)
    assert est.vendi_score_ == got


@given(seeds, st.integers(2, 25), dims, bandwidths, orders)
def test_vendi_score_bounds(seed, n, d, bandwidth, q):
    vs = vendi_score(_data(seed, n, d), bandwidth=bandwidth, order=q, random_state=0)
    assert 1.0 - 1e-12 <= vs <= n * (1 + 1e-12)


@given(seeds, st.integers(2, 25), dims, bandwidths)
def test_vendi_score_non_increasing_in_order(seed, n, d, bandwidth):
    X = _data(seed, n, d)
    scores = [vendi_score(X, bandwidth=bandwidth, order=q) for q in (0.3, 1.0, 2.0, 9.0, math.inf)]
    assert np.all(np.diff(scores) <= 1e-9 * scores[0])


@given(seeds, st.integers(2, 20), dims, orders, st.floats(-6, 6))
def test_vendi_score_invariances(seed, n, d, q, log_scale):
    X = _data(seed, n, d)
    vs = vendi_score(X, order=q)
    rng = np.random.default_rng(seed)
    R = ortho_group.rvs(d, random_state=seed) if d > 1 else np.ones((1, 1))
    moved = 10.0**log_scale * (X[rng.permutation(n)] @ R + rng.normal(size=d))
    assert vendi_score(moved, order=q) == pytest.approx(vs, rel=10 * _vendi_rtol(n, q))


@pytest.mark.parametrize("q", [0.5, 1.0, 3.0, math.inf])
def test_vendi_score_counts_distinct_points(q):
    # One eigenvalue N, the others rounding (q < 1 counts those: see _vendi_rtol).
    assert vendi_score(np.full((7, 3), 2.5), order=q) == pytest.approx(1.0, rel=_vendi_rtol(7, q))
    # Three points far apart at this sigma, each repeated: 3, not 6.
    X = np.repeat(np.eye(3), 2, axis=0)
    assert vendi_score(X, bandwidth=1e-3, order=q) == pytest.approx(3.0, rel=1e-12)
    # Any sigma, two points: eigenvalues (1 +- a) / 2 with a the affinity.
    a = math.exp(-0.5)
    lam = np.array([1 + a, 1 - a]) / 2
    expected = math.exp(_renyi(lam, q))
    assert vendi_score(np.array([[0.0], [1.0]]), bandwidth=1.0, order=q) == pytest.approx(
        expected, rel=1e-12
    )


def test_vendi_score_inf_order_is_one_over_the_top_eigenvalue():
    X = _data(5, 30, 3)
    K = _kernel(X, _sigma(X, "scale"))
    top = np.linalg.eigvalsh(K)[-1] / 30
    assert vendi_score(X, order=np.inf) == pytest.approx(1 / top, rel=1e-12)


def test_vendi_score_on_array_api_arrays():
    X = _data(2, 40, 3)
    expected = vendi_score(X, order=2.0)
    xps = pytest.importorskip("array_api_strict")
    assert vendi_score(xps.asarray(X), order=2.0) == pytest.approx(expected, rel=1e-12)
    torch = pytest.importorskip("torch")
    assert vendi_score(torch.asarray(X), order=2.0) == pytest.approx(expected, rel=1e-12)


def test_vendi_estimator_scores_with_the_fitted_bandwidth():
    X = _data(0, 60, 4)
    est = VendiScore(order=2.0).fit(X)
    assert est.bandwidth_ == pytest.approx(_sigma(X, "scale"), rel=1e-12)
    X_test = 0.1 * _data(1, 50, 4)
    # score keeps the training sigma: the shrunk test set looks like fewer points.
    assert est.score(X_test) == pytest.approx(
        vendi_score(X_test, bandwidth=est.bandwidth_, order=2.0), rel=1e-12
    )
    assert est.score(X_test) < vendi_score(X_test, order=2.0) - 1.0
    assert est.score(X) == pytest.approx(est.vendi_score_, rel=1e-12)


@pytest.mark.parametrize("bandwidth", ["scale", "median", 2.0])
def test_vendi_estimator_resolves_the_bandwidth_as_dse(bandwidth):
    X = _data(4, 50, 3)
    dse = DiffusionSpectralEntropy(bandwidth=bandwidth, random_state=0).fit(X)
    est = VendiScore(bandwidth=bandwidth, random_state=0).fit(X)
    assert est.bandwidth_ == dse.bandwidth_


def test_effective_rank_estimator_score():
    X = _data(0, 60, 4)
    est = EffectiveRank().fit(X)
    X_test = _data(1, 30, 4) * [1, 1, 1e-8, 1e-8]
    assert est.score(X_test) == pytest.approx(_direct_rank(X_test), rel=RANK_RTOL)
    assert est.score(X) == pytest.approx(est.effective_rank_, rel=1e-14)


# --- bad input ----------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, exc, name",
    [
        ({"order": 0}, ValueError, "order"),
        ({"order": -1.0}, ValueError, "order"),
        ({"order": float("nan")}, ValueError, "order"),
        ({"order": "inf"}, TypeError, "order"),
        ({"order": True}, TypeError, "order"),
        ({"bandwidth": 0.0}, ValueError, "bandwidth"),
        ({"bandwidth": math.inf}, ValueError, "bandwidth"),
        ({"bandwidth": "knn"}, ValueError, "bandwidth"),
        ({"bandwidth": None}, TypeError, "bandwidth"),
        ({"random_state": -1}, ValueError, "random_state"),
        ({"random_state": "seed"}, TypeError, "random_state"),
    ],
)
def test_vendi_bad_parameters(kwargs, exc, name):
    X = _data(0, 10, 2)
    with pytest.raises(exc, match=name):
        vendi_score(X, **kwargs)
    with pytest.raises(exc, match=name):
        VendiScore(**kwargs).fit(X)


@pytest.mark.parametrize(
    "eps, exc",
    [
        (-1e-7, ValueError),
        (1.0, ValueError),
        (float("nan"), ValueError),
        ("1e-7", TypeError),
        (True, TypeError),
        (False, TypeError),
    ],
)
def test_effective_rank_bad_eps(eps, exc):
    X = _data(0, 10, 2)
    with pytest.raises(exc, match="eps"):
        effective_rank(X, eps=eps)
    with pytest.raises(exc, match="eps"):
        EffectiveRank(eps=eps).fit(X)


@pytest.mark.parametrize("measure", [effective_rank, vendi_score])
@pytest.mark.parametrize(
    "X, match",
    [
        (np.ones(5), "2D"),
        (np.ones((1, 3)), "minimum of 2"),
        (np.array([[1.0, np.nan], [0.0, 1.0]]), "NaN"),
        (np.array([[1.0, np.inf], [0.0, 1.0]]), "infinity"),
        ([["a", "b"], ["c", "d"]], "X must hold real numbers"),
        (np.ones((3, 2)) + 1j, "Complex"),
        ("not an array", "X must hold real numbers"),
    ],
)
def test_bad_X(measure, X, match):
    with pytest.raises((ValueError, TypeError), match=match):
        measure(X)


def test_sparse_X_is_refused():
    import scipy.sparse

    X = scipy.sparse.random(10, 4, density=0.5, format="csr", random_state=0)
    for measure in (effective_rank, vendi_score):
        with pytest.raises(TypeError, match="[Ss]parse"):
            measure(X)


def test_dask_array_is_computed():
    da = pytest.importorskip("dask.array")
    X = _data(6, 40, 3)
    dX = da.from_array(X, chunks=(10, 3))
    assert effective_rank(dX) == pytest.approx(effective_rank(X), rel=RANK_RTOL)
    assert vendi_score(dX, order=2.0) == pytest.approx(vendi_score(X, order=2.0), rel=1e-12)


@pytest.mark.gpu
@pytest.mark.parametrize("library", ["cupy", "torch"])
def test_gpu_arrays_match_numpy(library):
    from .test_backends import _cupy, _torch

    X = _data(7, 300, 16)
    if library == "cupy":
        gX = _cupy().asarray(X)
    else:
        torch = _torch()
        if not torch.cuda.is_available():
            pytest.skip("no CUDA device")
        gX = torch.asarray(X, device="cuda")
    # cuSOLVER and LAPACK differ by rounding only (see RANK_RTOL and _vendi_rtol).
    assert effective_rank(gX) == pytest.approx(effective_rank(X), rel=RANK_RTOL)
    for q in (1.0, 2.0, math.inf):
        assert vendi_score(gX, order=q) == pytest.approx(
            vendi_score(X, order=q), rel=_vendi_rtol(300, q)
        )
