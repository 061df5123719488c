"""The paper's baselines (skdse/_baselines.py, skdse/_baseline_estimators.py)."""

import math

import numpy as np
import pytest

from skdse.baselines import (
    adjacency_spectral_entropy,
    diffusion_matrix_entry_entropy,
    matrix_entry_mutual_information,
)


def test_baselines_at_extreme_magnitudes_and_bandwidths():
    X = np.random.default_rng(0).normal(size=(30, 3))
    for kind in ("gaussian", "normalized"):
        ref = adjacency_spectral_entropy(X, kind=kind)
        assert adjacency_spectral_entropy(1e230 * X, kind=kind) == pytest.approx(ref, abs=1e-9)
        assert adjacency_spectral_entropy(1e-230 * X, kind=kind) == pytest.approx(ref, abs=1e-9)
    ref = diffusion_matrix_entry_entropy(X)
    assert diffusion_matrix_entry_entropy(1e230 * X) == pytest.approx(ref, abs=1e-9)
    # vanishing bandwidth: P is the identity, N entries of 1/N
    assert diffusion_matrix_entry_entropy(X, bandwidth=1e-200) == pytest.approx(math.log2(30))
    assert adjacency_spectral_entropy(X, bandwidth=1e-200) == pytest.approx(math.log2(30))


X = np.random.default_rng(0).normal(size=(60, 4))

Y = np.repeat([0, 1, 2], 20)


def test_matrix_entry_baseline_on_array_api_strict():
    # the row normalisation used the .sum method, which the standard lacks
    xps = pytest.importorskip("array_api_strict")
    ref = diffusion_matrix_entry_entropy(X)
    assert diffusion_matrix_entry_entropy(xps.asarray(X)) == pytest.approx(ref, rel=1e-12)
    mi = matrix_entry_mutual_information(X, Y, random_state=0)
    assert matrix_entry_mutual_information(
        xps.asarray(X), xps.asarray(Y), random_state=0
    ) == pytest.approx(mi, abs=1e-12)
