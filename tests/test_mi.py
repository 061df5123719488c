"""DSMI (skdse/_mi.py): the class terms, their subsamples, a y that carries nothing."""

import numpy as np
import pytest

from skdse import DiffusionSpectralMI, diffusion_spectral_mutual_information

from ._data import SLQ


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


@pytest.mark.parametrize(
    "kwargs",
    [dict(max_samples=30), dict(max_samples=None, **SLQ), dict(max_samples=30, **SLQ)],
    ids=["subsampled", "slq", "slq-subsampled"],
)
def test_dsmi_of_a_constant_y_is_exactly_zero(X, kwargs):
    # Same process, same rows, same probes: the class term and its marginal
    # subsets are one computation, so the difference is 0 to the bit.
    est = DiffusionSpectralMI(random_state=0, **kwargs).fit(X, np.zeros(150, int))
    assert est.mutual_information_ == 0.0
    assert np.all(est.group_marginal_entropies_ == est.group_conditional_entropies_)
    y = np.full(150, "a")
    assert diffusion_spectral_mutual_information(X, y, random_state=1, **kwargs) == 0.0


@pytest.mark.parametrize(
    "kwargs", [dict(max_samples=30), dict(max_samples=None, **SLQ)], ids=["subsampled", "slq"]
)
def test_dsmi_of_random_labels_stays_near_zero(X, kwargs):
    # random labels carry no information: 3 classes, 8 seeds; the spread of
    # one estimate is about 0.06-0.08 bits here, so the mean of 8 is ~0.03
    mi = [
        diffusion_spectral_mutual_information(
            X, np.random.default_rng(s).integers(0, 3, 150), random_state=s, **kwargs
        )
        for s in range(8)
    ]
    assert abs(np.mean(mi)) < 0.1, mi


def test_dsmi_still_sees_structure_when_subsampled(X):
    y = np.repeat([0, 1, 2], 50)
    mi = diffusion_spectral_mutual_information(
        X + 6 * y[:, None], y, max_samples=30, random_state=0
    )
    assert mi > 0.5
