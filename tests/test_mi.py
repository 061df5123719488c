"""DSMI (skdse/_mi.py): the class terms, their subsamples, a y that carries nothing."""

import numpy as np
import pytest

from skdse import diffusion_spectral_mutual_information


@pytest.mark.parametrize("n_repeats", [3, 5])
@pytest.mark.parametrize("solver", ["exact", "slq"])
def test_dsmi_of_constant_y_is_exactly_zero_without_subsampling(solver, n_repeats):
    # the whole-X class term was compared with the mean of n_repeats copies
    # of itself, which rounds: 4.4e-16 instead of 0 (n = 32, seed 5)
    Xn = np.random.default_rng(5).normal(size=(32, 3))
    for seed in range(5):
        mi = diffusion_spectral_mutual_information(
            Xn,
            np.zeros(32),
            max_samples=None,
            solver=solver,
            n_repeats=n_repeats,
            random_state=seed,
        )
        assert mi == 0.0
