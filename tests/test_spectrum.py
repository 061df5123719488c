"""The spectrum (skdse/_engine/spectrum.py): exact eigenvalues and their entropy."""

import math

import numpy as np
import pytest

from skdse import DiffusionSpectralEntropy, diffusion_spectral_entropy
from skdse._engine.spectrum import spectral_entropy


def test_spectrum_top_is_one_and_in_unit_interval():
    X = np.random.default_rng(0).uniform(size=(300, 10))
    est = DiffusionSpectralEntropy(bandwidth=0.5).fit(X)
    lam = est.eigenvalues_
    assert abs(lam[0] - 1) < 1e-12
    assert lam.min() > -1e-12 and lam.max() < 1 + 1e-12


def test_spectral_entropy_known_values():
    assert spectral_entropy([1.0]) == 0.0
    assert spectral_entropy([1.0, 1.0, 1.0, 1.0]) == pytest.approx(2.0)
    assert spectral_entropy([1.0, -1.0], base=math.e) == pytest.approx(math.log(2))
    # 0 log 0 = 0: zero eigenvalues do not contribute
    assert spectral_entropy([1.0, 0.0, 0.0]) == 0.0
    # t powers the eigenvalues: [1, 0.5] at t=2 -> p = [0.8, 0.2]
    expected = -(0.8 * math.log2(0.8) + 0.2 * math.log2(0.2))
    assert spectral_entropy([1.0, 0.5], t=2) == pytest.approx(expected, abs=1e-15)
    np.testing.assert_allclose(
        spectral_entropy([1.0, 0.5], t=[1, 2]),
        [spectral_entropy([1.0, 0.5], t=1), expected],
    )
    # large t must not underflow to NaN
    assert spectral_entropy([1.0, 0.9, 1e-300], t=1e4) == pytest.approx(0.0, abs=1e-12)


def test_eigensolver_refuses_a_non_finite_operator_clearly():
    from skdse._engine.spectrum import exact_eigenvalues

    A = np.eye(3)
    A[0, 1] = A[1, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        exact_eigenvalues(A)


def test_entropy_of_one_distinct_point_is_positive_zero():
    # -0.0 came out of the exact spectrum's entropy (printed "-0" by the CLI),
    # while the baselines already return +0.0
    Z = np.ones((5, 2))
    values = [
        diffusion_spectral_entropy(Z),
        diffusion_spectral_entropy(Z, solver="slq"),
        *DiffusionSpectralEntropy().fit(Z).entropy_profile([1.0, 2.0]),
    ]
    assert all(v == 0.0 and np.copysign(1.0, v) == 1.0 for v in values), values
