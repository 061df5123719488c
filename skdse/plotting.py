"""Plots of spectra, entropy profiles and training curves (needs matplotlib).

Every function draws on the given Axes (or a new figure's) and returns it.

Examples
--------
>>> import matplotlib
>>> matplotlib.use("Agg")
>>> import numpy as np
>>> from skdse import DiffusionSpectralEntropy
>>> from skdse.plotting import plot_entropy_profile
>>> est = DiffusionSpectralEntropy().fit(np.random.default_rng(0).normal(size=(100, 3)))
>>> ax = plot_entropy_profile(est)
>>> len(ax.lines)
1
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._engine.knee import knee_time

__all__ = ["plot_entropy_profile", "plot_spectrum", "plot_training_curves"]


def _axes(ax):
    if ax is not None:
        return ax
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "skdse.plotting needs matplotlib: pip install 'skdse[cli]' (or matplotlib)."
        ) from exc
    return plt.figure().add_subplot()


def plot_spectrum(estimator, *, t=None, ax=None):
    """Eigenvalues of a fitted exact :class:`DiffusionSpectralEntropy`, and their t-th powers.

    Parameters
    ----------
    estimator : DiffusionSpectralEntropy
        Fitted with the exact solver (slq keeps no eigenvalues).
    t : float or None
        Diffusion time of the powered spectrum; None uses the estimator's
        ``t_`` (its ``t``, or the knee it chose for ``t="auto"``).
    ax : matplotlib Axes or None

    Returns
    -------
    ax : matplotlib Axes
        With two lines: ``|lambda_i|`` and ``|lambda_i|^t`` against the index i.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skdse import DiffusionSpectralEntropy
    >>> from skdse.plotting import plot_spectrum
    >>> est = DiffusionSpectralEntropy(t=3).fit(np.random.default_rng(0).normal(size=(50, 2)))
    >>> [line.get_label() for line in plot_spectrum(est).lines]
    ['|eigenvalue|', '|eigenvalue|^3']
    """
    check_is_fitted(estimator)
    if getattr(estimator, "eigenvalues_", None) is None:
        raise ValueError(
            "plot_spectrum needs the eigenvalues of an exact fit; refit with solver='exact'."
        )
    t = estimator.t_ if t is None else t
    lam = np.abs(estimator.eigenvalues_)
    ax = _axes(ax)
    idx = np.arange(1, lam.size + 1)
    ax.plot(idx, lam, label="|eigenvalue|")
    ax.plot(idx, lam**t, label=f"|eigenvalue|^{t:g}")
    ax.set_xlabel("index")
    ax.set_ylabel("magnitude")
    ax.set_title(f"diffusion spectrum (DSE at t={t:g}: {estimator.entropy_profile(t):.3f})")
    ax.legend()
    return ax


def plot_entropy_profile(estimator, t=None, *, ax=None, knee=None):
    """DSE of a fitted :class:`DiffusionSpectralEntropy` against the diffusion time.

    Parameters
    ----------
    estimator : DiffusionSpectralEntropy
    t : array-like or None
        Diffusion times; None uses 1 to 20.
    ax : matplotlib Axes or None
    knee : bool or None, default=None
        Mark the knee of the profile, the t that ``t="auto"`` picks (a
        dashed vertical line and a point, labelled ``knee: t=...``, with a
        legend). None marks it when the estimator was fitted with
        ``t="auto"`` (its ``t_``); True also for a fixed t (the knee is then
        found on the fitted spectrum, as ``t="auto"`` would).

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skdse import DiffusionSpectralEntropy
    >>> from skdse.plotting import plot_entropy_profile
    >>> est = DiffusionSpectralEntropy().fit(np.random.default_rng(0).normal(size=(60, 2)))
    >>> plot_entropy_profile(est, [1, 2, 4]).lines[0].get_xdata().tolist()
    [1.0, 2.0, 4.0]
    >>> auto = DiffusionSpectralEntropy(t="auto").fit(np.random.default_rng(0).normal(size=(60, 2)))
    >>> plot_entropy_profile(auto).get_legend().get_texts()[0].get_text()
    'knee: t=7'
    """
    ts = np.arange(1, 21, dtype=float) if t is None else np.asarray(t, dtype=float)
    h = estimator.entropy_profile(ts)
    ax = _axes(ax)
    ax.plot(ts, h, marker="o")
    auto = isinstance(estimator.t, str)  # "auto", the one string t
    if knee or (knee is None and auto):
        spec = estimator.spectrum_
        at = estimator.t_ if auto else knee_time(spec, estimator.base, estimator.order)
        ax.axvline(at, color="0.5", linestyle="--", label=f"knee: t={at:g}")
        ax.plot([at], [estimator.entropy_profile(at)], marker="*", markersize=12, linestyle="")
        ax.legend()
    ax.set_xlabel("diffusion time t")
    ax.set_ylabel(f"DSE (log base {estimator.base:g})")
    ax.set_title("entropy profile")
    return ax


def plot_training_curves(epochs, curves: dict, *, ax=None, ylabel="bits"):
    """DSE/DSMI (or any measure) over training checkpoints.

    Parameters
    ----------
    epochs : array-like of shape (n_checkpoints,)
    curves : dict of str -> array-like of shape (n_checkpoints,)
        One line per entry, labelled by its key.
    ax : matplotlib Axes or None
    ylabel : str

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skdse.plotting import plot_training_curves
    >>> ax = plot_training_curves([1, 2, 3], {"DSMI": [0.1, 0.5, 0.9]})
    >>> ax.get_legend().get_texts()[0].get_text()
    'DSMI'
    """
    ax = _axes(ax)
    epochs = np.asarray(epochs)
    for label, values in curves.items():
        values = np.asarray(values, dtype=float)
        if values.shape != epochs.shape:
            raise ValueError(
                f"curve {label!r} has {values.shape[0]} values for {epochs.shape[0]} epochs."
            )
        ax.plot(epochs, values, marker="o", label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.legend()
    return ax
