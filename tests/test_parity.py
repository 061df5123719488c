"""Numerical parity with the authors' package ``dse-dsmi`` 1.1 (the oracle)."""

import warnings

import numpy as np
import pytest

from skdse import DiffusionSpectralEntropy, DiffusionSpectralMI
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
