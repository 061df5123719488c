"""The scalable spectrum (skdse/_engine/slq.py): SLQ against exact, and its error bar."""

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import skdse
from skdse import (
    DiffusionSpectralEntropy,
    DiffusionSpectralMI,
    diffusion_spectral_entropy,
    diffusion_spectral_mutual_information,
)
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


def test_matrix_free_slq_matches_dense_slq():
    X = DATASETS["manifold"](500)
    kw = dict(solver="slq", random_state=0, max_samples=None)
    dense = diffusion_spectral_entropy(X, operator="dense", **kw)
    free = diffusion_spectral_entropy(X, operator="matrix_free", **kw)
    assert abs(dense - free) < 1e-4  # same probes; float32 kernels on both sides


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


def test_many_lanczos_steps_on_few_points_run(X):
    h = diffusion_spectral_entropy(X, n_lanczos_steps=10**8, random_state=0, **SLQ)
    assert 0 < h <= np.log2(150)
