"""Numerical parity with the authors' package ``dse-dsmi`` 1.1 (the oracle)."""

import warnings

import numpy as np
import pytest

from skdse import DiffusionSpectralEntropy, DiffusionSpectralMI
from skdse.baselines import (
    adjacency_spectral_entropy,
    adjacency_spectral_mutual_information,
    classic_mutual_information,
    classic_shannon_entropy,
    diffusion_matrix_entry_entropy,
)
from skdse.datasets import make_branching_tree

from ._data import DATASETS

dse_dsmi = pytest.importorskip("dse_dsmi")

TS = (1, 2, 3)


def _reference_dse(X, sigma, t):
    return dse_dsmi.diffusion_spectral_entropy(X, gaussian_kernel_sigma=sigma, t=t)


def _check_dse_parity(X, sigma):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        est = DiffusionSpectralEntropy(
            bandwidth=sigma, t=TS[0], max_samples=None, solver="exact"
        ).fit(X)
    ours = est.entropy_profile(list(TS))
    for t, h in zip(TS, ours):
        ref = _reference_dse(X, sigma, t)
        assert abs(h - ref) < 1e-9, (t, h, ref)
        assert h > 0 or ref < 1e-9


@pytest.mark.parametrize("name", sorted(DATASETS))
@pytest.mark.parametrize("n", [50, 400])
@pytest.mark.parametrize("sigma", ["10", "sqrt_d"])
def test_dse_matches_reference(name, n, sigma):
    X = DATASETS[name](n)
    _check_dse_parity(X, 10.0 if sigma == "10" else float(np.sqrt(X.shape[1])))


@pytest.mark.parametrize("name", ["uniform_cube", "manifold"])
def test_dse_matches_reference_large(name):
    X = DATASETS[name](2000)
    _check_dse_parity(X, 10.0)


def test_function_and_estimator_agree_with_reference_defaults():
    # The reference's own defaults: sigma = 10, t = 1, first max_N rows kept when N <= max_N.
    X = DATASETS["blobs"](300)
    from skdse import diffusion_spectral_entropy

    assert abs(diffusion_spectral_entropy(X, bandwidth=10.0) - _reference_dse(X, 10, 1)) < 1e-9


@pytest.mark.parametrize("n_classes", [2, 5, 10])
def test_dsmi_matches_reference(n_classes):
    X, y = make_branching_tree(n_classes, 100, 20, step=2.0, noise=1.0, random_state=n_classes)
    sigma = 10.0
    est = DiffusionSpectralMI(bandwidth=sigma, n_repeats=50, solver="exact", random_state=0).fit(
        X, y
    )

    # Each class's conditional DSE is deterministic: 1e-9.
    for label, h in zip(est.groups_, est.group_conditional_entropies_):
        ref = _reference_dse(X[y == label], sigma, 1)
        assert abs(h - ref) < 1e-9

    # The total averages random subsets: statistical agreement.
    ref_mi, ref_clusters = dse_dsmi.diffusion_spectral_mutual_information(
        X, y, gaussian_kernel_sigma=sigma, num_repetitions=50, random_seed=0
    )
    assert abs(est.mutual_information_ - ref_mi) < 0.02, (est.mutual_information_, ref_mi)
    assert est.mutual_information_ > 0.05  # the tree's branches carry information


@pytest.mark.parametrize("name", ["uniform_cube", "blobs", "tree", "duplicated"])
def test_classic_entropy_parity(name):
    X = DATASETS[name](300)
    for bins in (2, 3):
        ref = dse_dsmi.diffusion_spectral_entropy(
            X, classic_shannon_entropy=True, num_bins_per_dim=bins
        )
        assert abs(classic_shannon_entropy(X, n_bins_per_dim=bins) - ref) < 1e-9


@pytest.mark.parametrize("name", ["uniform_cube", "blobs", "manifold"])
def test_matrix_entry_entropy_parity(name):
    X = DATASETS[name](200)
    ref = dse_dsmi.diffusion_spectral_entropy(
        X, gaussian_kernel_sigma=10, matrix_entry_entropy=True
    )
    assert abs(diffusion_matrix_entry_entropy(X, bandwidth=10.0) - ref) < 1e-9


@pytest.mark.parametrize("name", ["uniform_cube", "blobs", "manifold", "tree"])
@pytest.mark.parametrize(
    "kind, ref_kw",
    [
        ("gaussian", {}),
        ("normalized", {"anisotropic": True}),
        ("knn", {"use_knn": True, "knn": 10}),
    ],
)
def test_adjacency_entropy_parity(name, kind, ref_kw):
    X = DATASETS[name](200)
    ref = dse_dsmi.adjacency_spectral_entropy(X, gaussian_kernel_sigma=10, **ref_kw)
    ours = adjacency_spectral_entropy(X, kind=kind, bandwidth=10.0, n_neighbors=10)
    assert abs(ours - ref) < 1e-9


def test_dsmi_continuous_scalar_parity():
    X, branch = make_branching_tree(4, 100, 20, step=2.0, random_state=1)
    y = branch + np.random.default_rng(0).uniform(0, 0.9, size=branch.size)  # continuous
    est = DiffusionSpectralMI(bandwidth=10.0, n_repeats=50, solver="exact", random_state=0)
    est.fit(X, y)
    ref_mi, ref_clusters = dse_dsmi.diffusion_spectral_mutual_information(
        X, y, gaussian_kernel_sigma=10, num_repetitions=50, n_clusters=10
    )
    np.testing.assert_array_equal(est.partition_, np.ravel(ref_clusters))
    for label, h in zip(est.groups_, est.group_conditional_entropies_):
        ref = dse_dsmi.diffusion_spectral_entropy(
            X[est.partition_ == label], gaussian_kernel_sigma=10
        )
        assert abs(h - ref) < 1e-9
    assert abs(est.mutual_information_ - ref_mi) < 0.02


def test_dsmi_continuous_vector_parity():
    X, branch = make_branching_tree(3, 80, 10, step=2.0, random_state=2)
    Y = X[:, :6] + np.random.default_rng(0).normal(scale=0.1, size=(240, 6))  # "inputs"
    est = DiffusionSpectralMI(
        bandwidth=10.0, n_repeats=50, n_clusters=4, solver="exact", random_state=0
    ).fit(X, Y)
    ref_mi, ref_clusters = dse_dsmi.diffusion_spectral_mutual_information(
        X, Y, gaussian_kernel_sigma=10, num_repetitions=50, n_clusters=4
    )
    np.testing.assert_array_equal(est.partition_, ref_clusters)
    assert abs(est.mutual_information_ - ref_mi) < 0.02


def test_classic_and_adjacency_mi_parity():
    X, y = make_branching_tree(3, 100, 20, step=2.0, random_state=3)
    ref = dse_dsmi.diffusion_spectral_mutual_information(
        X, y, classic_shannon_entropy=True, num_repetitions=50
    )[0]
    assert abs(classic_mutual_information(X, y, n_repeats=50, random_state=0) - ref) < 0.05
    ref = dse_dsmi.adjacency_spectral_mutual_information(
        X, y, gaussian_kernel_sigma=10, num_repetitions=50
    )[0]
    ours = adjacency_spectral_mutual_information(X, y, bandwidth=10.0, n_repeats=50, random_state=0)
    assert abs(ours - ref) < 0.05
