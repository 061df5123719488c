"""The scalable spectrum: SLQ against exact, its error bar, and the operators."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st
from scipy.spatial.distance import cdist

import skdse
import skdse._engine.resources as engine_resources
from skdse import (
    DiffusionSpectralEntropy,
    DiffusionSpectralMI,
    InsufficientMemoryError,
    diffusion_spectral_entropy,
    diffusion_spectral_mutual_information,
)
from skdse._engine.kernels import diffusion_operator
from skdse._engine.knn import knn_operator
from skdse._engine.operators import MatrixFreeOperator, dense_operator
from skdse._engine.solve import AUTO_EXACT_MAX
from skdse.datasets import make_branching_tree, make_noisy_subspace

from ._data import DATASETS, SLQ
from ._tolerances import SLQ_TOL


def _tol(exact):
    return max(0.02, 0.005 * exact)


@pytest.mark.parametrize("name", sorted(DATASETS))
@pytest.mark.parametrize("t", [1, 2, 5])
def test_slq_agrees_with_exact(name, t):
    X = DATASETS[name](600)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        exact = diffusion_spectral_entropy(X, t=t, solver="exact")
        slq = diffusion_spectral_entropy(X, t=t, solver="slq", random_state=0)
    assert abs(slq - exact) <= _tol(exact)


@pytest.mark.parametrize("factor", [0.25, 1.0, 4.0])
def test_slq_profile_agrees_with_exact_over_bandwidths(factor):
    X, _ = make_branching_tree(6, 100, 30, random_state=0)
    sigma = factor * skdse._engine.kernels.resolve_bandwidth(X, "scale")
    exact = DiffusionSpectralEntropy(bandwidth=sigma, solver="exact").fit(X)
    slq = DiffusionSpectralEntropy(bandwidth=sigma, solver="slq", random_state=1).fit(X)
    ts = [1, 2, 3, 5, 10]
    assert slq.solver_ == "slq" and slq.eigenvalues_ is None and exact.solver_ == "exact"
    for e, s in zip(exact.entropy_profile(ts), slq.entropy_profile(ts)):
        assert abs(e - s) <= _tol(e)


def test_error_bar_covers_exact_in_most_runs():
    # The rate, not one run: the 2-SE interval covers the exact value in >= 80% of seeds.
    X = make_noisy_subspace(500, 3, 64, noise=0.05, random_state=0)
    exact = diffusion_spectral_entropy(X, solver="exact")
    covered, widths = 0, []
    for seed in range(30):
        est = DiffusionSpectralEntropy(
            solver="slq", n_deflate=0, n_probes=16, random_state=seed
        ).fit(X)
        widths.append(est.entropy_std_)
        covered += abs(est.entropy_ - exact) <= 2 * est.entropy_std_
    assert covered >= 24, covered
    assert np.all(np.array(widths) > 0)


def test_slq_is_seeded():
    X = DATASETS["blobs"](400)
    a = diffusion_spectral_entropy(X, solver="slq", random_state=3)
    assert a == diffusion_spectral_entropy(X, solver="slq", random_state=3)
    assert a != diffusion_spectral_entropy(X, solver="slq", random_state=4)


def test_auto_switches_at_threshold():
    small = DiffusionSpectralEntropy().fit(DATASETS["blobs"](300))
    assert small.solver_ == "exact"
    X = np.random.default_rng(0).normal(size=(AUTO_EXACT_MAX + 1, 3))
    assert DiffusionSpectralEntropy(random_state=0).fit(X).solver_ == "slq"


def test_dense_and_matrix_free_products_agree():
    X = np.random.default_rng(0).normal(size=(700, 9)) + 30
    V = np.random.default_rng(1).normal(size=(700, 5))
    dense = dense_operator(X, 2.0)
    A, degrees = diffusion_operator(X, 2.0)
    np.testing.assert_array_equal(dense.matmat(V), A @ V)
    for dtype, rtol in [(np.float64, 1e-12), (np.float32, 2e-5)]:
        free = MatrixFreeOperator(X, 2.0, block_rows=128, dtype=dtype, n_threads=2)
        np.testing.assert_allclose(free.degrees, degrees, rtol=rtol)
        np.testing.assert_allclose(
            free.matmat(V), A @ V, rtol=rtol, atol=rtol * np.abs(A @ V).max()
        )
    serial = MatrixFreeOperator(X, 2.0, block_rows=100, dtype=np.float64, n_threads=1)
    np.testing.assert_allclose(serial.toarray(), A, rtol=1e-12, atol=1e-15)


def test_matrix_free_slq_matches_dense_slq():
    X = DATASETS["manifold"](500)
    kw = dict(solver="slq", random_state=0, max_samples=None)
    dense = diffusion_spectral_entropy(X, operator="dense", **kw)
    free = diffusion_spectral_entropy(X, operator="matrix_free", **kw)
    assert abs(dense - free) < 1e-4  # same probes; float32 kernels on both sides


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


def test_knn_bandwidth_exact_and_slq_agree():
    X = DATASETS["tree"](800)
    exact = DiffusionSpectralEntropy(affinity="knn", solver="exact").fit(X)
    slq = DiffusionSpectralEntropy(affinity="knn", solver="slq", random_state=0).fit(X)
    assert exact.affinity_ == "knn" and exact.bandwidth_ is None
    assert abs(exact.entropy_ - slq.entropy_) <= _tol(exact.entropy_)
    assert abs(exact.score(X) - exact.entropy_) < 1e-12


@pytest.mark.reproducibility
def test_dsmi_with_slq_close_to_exact():
    X, y = make_branching_tree(4, 150, 20, step=2.0, random_state=0)
    kw = dict(n_repeats=3, random_state=0)
    exact = DiffusionSpectralMI(solver="exact", **kw).fit(X, y)
    slq = DiffusionSpectralMI(solver="slq", **kw).fit(X, y)
    assert abs(exact.mutual_information_ - slq.mutual_information_) < 0.05
    # the same random subsets and probes on both sides, computed in other processes
    # (n_jobs=2) whose BLAS sums the float32 products in another order: not bit-equal
    a = diffusion_spectral_mutual_information(X, y, solver="slq", n_jobs=2, **kw)
    assert abs(a - slq.mutual_information_) <= SLQ_TOL


@given(
    st.integers(0, 2**32 - 1),
    st.integers(30, 120),
    st.sampled_from(["scale", "median", 0.7]),
    st.sampled_from([1.0, 2.0, 4.0]),
)
def test_slq_properties_within_tolerance(seed, n, bandwidth, t):
    X = np.random.default_rng(seed).normal(size=(n, 3))
    kw = dict(bandwidth=bandwidth, t=t, solver="slq", random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        h = diffusion_spectral_entropy(X, **kw)
        assert 0.0 <= h <= np.log2(n) + 1e-12
        perm = np.random.default_rng(seed).permutation(n)
        exact = diffusion_spectral_entropy(X, bandwidth=bandwidth, t=t, solver="exact")
        assert abs(diffusion_spectral_entropy(X[perm], **kw) - exact) <= _tol(exact)
        if bandwidth != 0.7:
            assert abs(diffusion_spectral_entropy(5.0 * X + 2.0, **kw) - exact) <= _tol(exact)


def test_slq_memory_refused_up_front(monkeypatch):
    monkeypatch.setattr(engine_resources, "available_memory_bytes", lambda: 1_000_000)
    X = np.random.default_rng(0).normal(size=(3000, 2))
    with pytest.raises(InsufficientMemoryError, match="n_probes"):
        diffusion_spectral_entropy(X, solver="slq", operator="matrix_free")
    with pytest.raises(InsufficientMemoryError, match="matrix_free"):
        diffusion_spectral_entropy(X, solver="slq", operator="dense")


@pytest.mark.parametrize(
    "param, value, exc",
    [
        ("solver", "lanczos", ValueError),
        ("operator", "sparse", ValueError),
        ("n_lanczos_steps", 1, ValueError),
        ("n_probes", 1, ValueError),
        ("n_probes", 2.0, TypeError),
        ("n_deflate", -1, ValueError),
        ("n_neighbors", 0, ValueError),
        ("bandwidth", "kNN", ValueError),
        ("verbose", -1, ValueError),
        ("verbose", "yes", TypeError),
    ],
)
def test_bad_solver_parameters(param, value, exc):
    X = np.random.default_rng(0).normal(size=(30, 2))
    for call in (
        lambda: diffusion_spectral_entropy(X, **{param: value}),
        lambda: DiffusionSpectralMI(**{param: value}).fit(X, np.repeat([0, 1], 15)),
    ):
        with pytest.raises(exc, match=param):
            call()


@pytest.mark.parametrize("value, exc", [(0, ValueError), (1.5, TypeError)])
def test_bad_n_subsamples(value, exc):
    X = np.random.default_rng(0).normal(size=(30, 2))
    with pytest.raises(exc, match="n_subsamples"):
        diffusion_spectral_entropy(X, n_subsamples=value)
    with pytest.raises(exc, match="n_subsamples"):
        DiffusionSpectralEntropy(n_subsamples=value).fit(X)


def test_many_lanczos_steps_on_few_points_run(X):
    h = diffusion_spectral_entropy(X, n_lanczos_steps=10**8, random_state=0, **SLQ)
    assert 0 < h <= np.log2(150)
