"""Plots, drawn headless (Agg), checked by what they drew."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from skdse import DiffusionSpectralEntropy  # noqa: E402
from skdse.plotting import plot_entropy_profile, plot_spectrum, plot_training_curves  # noqa: E402

X = np.random.default_rng(0).normal(size=(80, 3))


def test_plot_spectrum_draws_eigenvalues_and_powers():
    est = DiffusionSpectralEntropy(t=2).fit(X)
    ax = plot_spectrum(est)
    raw, powered = ax.lines
    np.testing.assert_allclose(raw.get_ydata(), np.abs(est.eigenvalues_))
    np.testing.assert_allclose(powered.get_ydata(), np.abs(est.eigenvalues_) ** 2)
    assert f"{est.entropy_:.3f}" in ax.get_title()


def test_plot_spectrum_needs_exact_fit():
    # on 80 points slq's vectors would span the space and the exact solver runs
    big = np.random.default_rng(0).normal(size=(200, 3))
    est = DiffusionSpectralEntropy(solver="slq", random_state=0).fit(big)
    assert est.solver_ == "slq"
    with pytest.raises(ValueError, match="solver='exact'"):
        plot_spectrum(est)


def test_plot_entropy_profile_matches_estimator():
    est = DiffusionSpectralEntropy().fit(X)
    ax = plot_entropy_profile(est, [1, 3, 9])
    np.testing.assert_allclose(ax.lines[0].get_ydata(), est.entropy_profile([1, 3, 9]))
    assert len(plot_entropy_profile(est).lines[0].get_xdata()) == 20


def test_plot_training_curves():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    out = plot_training_curves([1, 2, 3], {"a": [1, 2, 3], "b": [3, 2, 1]}, ax=ax)
    assert out is ax and [ln.get_label() for ln in ax.lines] == ["a", "b"]
    with pytest.raises(ValueError, match="curve 'a' has 2 values for 3 epochs"):
        plot_training_curves([1, 2, 3], {"a": [1, 2]})
    plt.close("all")
