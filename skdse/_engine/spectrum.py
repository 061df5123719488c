"""Spectrum solvers and the entropy of a spectrum."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .backend import eigvalsh, namespace, to_numpy


def exact_eigenvalues(A) -> np.ndarray:
    """All eigenvalues of the symmetric matrix ``A``, sorted descending, on the host.

    ``A`` may be overwritten (on NumPy, LAPACK's divide-and-conquer driver
    works in its memory). This is the cost floor of the exact path: O(N^3)
    time, on A's device.
    """
    if A.shape[0] == 1:
        return np.ones(1) * float(to_numpy(A).ravel()[0])
    xp = namespace(A)
    if not bool(xp.all(xp.isfinite(A))):  # the kernels never give one: a bug, said clearly
        raise ValueError(
            "The diffusion operator has non-finite entries; the eigensolver would fail. "
            "Check X and the bandwidth (or the precomputed affinity) for overflow."
        )
    w = to_numpy(eigvalsh(A, xp)).astype(np.float64)
    return w[::-1].copy()


def _log_weights(eigenvalues: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``log |lambda|^t`` for each t (rows) and eigenvalue (columns); -inf for 0."""
    with np.errstate(divide="ignore"):
        log_abs = np.log(np.abs(np.asarray(eigenvalues, dtype=np.float64)))
    return t[:, None] * log_abs[None, :]


def spectral_entropy(eigenvalues, t=1.0, base=2.0):
    """Entropy of the normalised powered spectrum.

    ``p_i = |lambda_i|^t / sum_j |lambda_j|^t`` and ``H = -sum_i p_i log_base p_i``
    with ``0 log 0 = 0``. Unlike the reference implementation no machine
    epsilon is added to ``p_i`` (that shifts the value by less than 1e-10
    for N <= 1e5). Rounding is clipped to the exact bounds ``[0, ln N]``
    (in nats) before changing base.

    Parameters
    ----------
    eigenvalues : array-like of shape (n,)
        The spectrum; signs are ignored (tiny negatives come from rounding).
    t : float or array-like of floats
        Diffusion time(s). For ``t < 1`` the entropy is ill-conditioned in
        the near-zero eigenvalues (``d lambda^t / d lambda`` is unbounded at
        0): rounding of order ``n * eps`` in them moves the result by up to
        about ``n * (n * eps)^t``. Use ``t >= 1`` where digits matter.
    base : float
        Base of the logarithm (2 gives bits).

    Returns
    -------
    float, or ndarray of the shape of ``t``

    Examples
    --------
    >>> from skdse._engine.spectrum import spectral_entropy
    >>> float(spectral_entropy([1.0, 1.0, 0.0, 0.0]))
    1.0
    """
    t_arr = np.atleast_1d(np.asarray(t, dtype=np.float64))
    lw = _log_weights(eigenvalues, t_arr.ravel())
    n_nonzero = max(int(np.count_nonzero(np.isfinite(lw[0]))), 1)
    # Shift by the row maximum so large t cannot underflow the whole spectrum.
    shift = np.max(lw, axis=1, keepdims=True)
    shift = np.where(np.isfinite(shift), shift, 0.0)
    w = np.exp(lw - shift)
    z = w.sum(axis=1, keepdims=True)
    p = w / z
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(p > 0, p * np.log(p), 0.0)
    h = np.clip(-plogp.sum(axis=1), 0.0, np.log(n_nonzero)) / np.log(base) + 0.0  # no -0.0
    if np.ndim(t) == 0:
        return float(h[0])
    return h.reshape(np.shape(t))


@dataclass(frozen=True)
class ExactSpectrum:
    """All eigenvalues of a diffusion operator, sorted descending.

    Examples
    --------
    >>> from skdse._engine.spectrum import ExactSpectrum
    >>> ExactSpectrum(np.array([1.0, 1.0])).entropy(1, 2)
    1.0
    """

    eigenvalues: np.ndarray

    @property
    def n(self) -> int:
        return self.eigenvalues.shape[0]

    def entropy(self, t, base):
        return spectral_entropy(self.eigenvalues, t, base)

    def entropy_std(self, t, base):
        return 0.0 if np.ndim(t) == 0 else np.zeros(np.shape(t))
