"""The paper's baselines (skdse/_baselines.py, skdse/_baseline_estimators.py)."""

import math

import numpy as np
import pytest

from skdse.baselines import adjacency_spectral_entropy, diffusion_matrix_entry_entropy


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
