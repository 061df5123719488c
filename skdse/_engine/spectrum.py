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


def check_order(order) -> float:
    """``order`` as a float, or an error naming it (it must be > 0; inf allowed)."""
    try:
        value = float(order)
    except (TypeError, ValueError):
        raise TypeError(f"order must be a number > 0 or inf, got {order!r}.") from None
    if not value > 0:  # also refuses NaN
        raise ValueError(f"order must be a number > 0 or inf, got {order!r}.")
    return value


def renyi_entropy_nats(log_w: np.ndarray, order: float, mass=1.0) -> np.ndarray:
    """Rényi entropy, in nats, of order ``order != 1`` of a weighted point measure.

    Atom k has weight ``exp(log_w[..., k])`` (-inf for a zero weight) and
    multiplicity ``mass[..., k] >= 0`` (1 for a plain spectrum; a quadrature
    rule's weights for slq); ``q_k = exp(log_w_k) / sum_j mass_j exp(log_w_j)``
    and ``H = log(sum_k mass_k q_k^order) / (1 - order)``, reduced over the
    last axis (the others broadcast). Stable for every order: computed
    relative to the largest weight (no overflow or underflow at large t);
    near ``order = 1`` from ``sum_k mass_k q_k expm1((order - 1) log q_k)``,
    whose terms share one sign, so the 0/0 of the definition loses no digits;
    ``order = inf`` is ``-log max_k q_k``.
    """
    mass = np.asarray(mass, dtype=np.float64)
    log_w = np.where(mass > 0, log_w, -np.inf)
    shift = np.max(log_w, axis=-1, keepdims=True)
    empty = ~np.isfinite(shift[..., 0])  # no atom with weight: entropy 0, as 0 log 0 = 0
    lw = log_w - np.where(empty[..., None], 0.0, shift)  # <= 0, 0 at the largest
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        log_z = np.log(np.sum(mass * np.exp(lw), axis=-1))
        s = order - 1.0
        if order == np.inf:
            h = log_z
        elif abs(s) < 0.5:
            log_q = lw - log_z[..., None]
            mq = mass * np.exp(log_q)
            h = -np.log1p(np.sum(np.where(mq > 0, mq * np.expm1(s * log_q), 0.0), axis=-1)) / s
        else:
            h = log_z + (log_z - np.log(np.sum(mass * np.exp(order * lw), axis=-1))) / s
    return np.where(empty, 0.0, h)


def spectral_entropy(eigenvalues, t=1.0, base=2.0, order=1.0):
    """Rényi entropy of the normalised powered spectrum (Shannon's by default).

    ``p_i = |lambda_i|^t / sum_j |lambda_j|^t`` and, for ``order`` (alpha)
    1, Shannon's ``H = -sum_i p_i log_base p_i`` with ``0 log 0 = 0``. Unlike
    the reference implementation no machine epsilon is added to ``p_i``
    (that shifts the value by less than 1e-10 for N <= 1e5). Any other
    order alpha > 0 gives Rényi's entropy (Rényi 1961)

    ``H_alpha = log_base(sum_i p_i^alpha) / (1 - alpha)``,

    which tends to Shannon's as alpha -> 1, to ``log_base`` of the number of
    nonzero eigenvalues as alpha -> 0 (Hartley), and to the min-entropy
    ``H_inf = -log_base max_i p_i`` as alpha -> inf (``order=inf``). It is
    non-increasing in alpha; alpha = 2 is the collision entropy. In terms of
    the spectral sums ``Z(s) = sum_i |lambda_i|^s``,
    ``H_alpha = (log Z(t alpha) - alpha log Z(t)) / (1 - alpha)``, the form
    slq estimates; hence ``H_alpha(t) = H_(1/alpha)(alpha t)``. Rounding is
    clipped to the exact bounds ``[0, ln N]`` (in nats, N the number of
    nonzero eigenvalues) before changing base.

    Parameters
    ----------
    eigenvalues : array-like of shape (n,)
        The spectrum; signs are ignored (tiny negatives come from rounding).
    t : float or array-like of floats
        Diffusion time(s). For ``t < 1`` the entropy is ill-conditioned in
        the near-zero eigenvalues (``d lambda^t / d lambda`` is unbounded at
        0): rounding of order ``n * eps`` in them moves the result by up to
        about ``n * (n * eps)^t``. Use ``t >= 1`` where digits matter (and
        ``t * order >= 1`` for a Rényi order below 1).
    base : float
        Base of the logarithm (2 gives bits).
    order : float
        Rényi order alpha > 0, or ``inf``; 1 (the default) is Shannon's
        entropy, computed exactly as before the order existed.

    Returns
    -------
    float, or ndarray of the shape of ``t``

    References
    ----------
    A. Rényi, "On measures of entropy and information", Proc. Fourth
    Berkeley Symposium on Mathematical Statistics and Probability, vol. 1,
    pp. 547-561, 1961.

    Examples
    --------
    >>> from skdse._engine.spectrum import spectral_entropy
    >>> float(spectral_entropy([1.0, 1.0, 0.0, 0.0]))
    1.0
    >>> round(float(spectral_entropy([1.0, 0.5, 0.5], order=2)), 12)  # -log2(1/4 + 2/16)
    1.415037499279
    >>> float(spectral_entropy([1.0, 0.5, 0.5], order=float("inf")))  # -log2(0.5)
    1.0
    """
    order = check_order(order)
    t_arr = np.atleast_1d(np.asarray(t, dtype=np.float64))
    lw = _log_weights(eigenvalues, t_arr.ravel())
    n_nonzero = max(int(np.count_nonzero(np.isfinite(lw[0]))), 1)
    if order == 1.0:
        # Shift by the row maximum so large t cannot underflow the whole spectrum.
        shift = np.max(lw, axis=1, keepdims=True)
        shift = np.where(np.isfinite(shift), shift, 0.0)
        w = np.exp(lw - shift)
        z = w.sum(axis=1, keepdims=True)
        p = w / z
        with np.errstate(divide="ignore", invalid="ignore"):
            plogp = np.where(p > 0, p * np.log(p), 0.0)
        h_nats = -plogp.sum(axis=1)
    else:
        h_nats = renyi_entropy_nats(lw, order)
    h = np.clip(h_nats, 0.0, np.log(n_nonzero)) / np.log(base) + 0.0  # no -0.0
    if np.ndim(t) == 0:
        return float(h[0])
    return h.reshape(np.shape(t))


def jackknife_std(replicates: np.ndarray):
    """Jackknife standard error from leave-one-out estimates (0 for fewer than two).

    The replicates run along the first axis; further axes (say several t)
    give one standard error each.

    Examples
    --------
    >>> from skdse._engine.spectrum import jackknife_std
    >>> x = np.array([1.0, 2.0, 4.0])
    >>> loo = (x.sum() - x) / 2  # leave-one-out means
    >>> bool(np.isclose(jackknife_std(loo), x.std(ddof=1) / np.sqrt(3)))
    True
    """
    k = replicates.shape[0]
    if k < 2:
        return 0.0
    spread = np.sqrt((k - 1) / k * np.sum((replicates - replicates.mean(axis=0)) ** 2, axis=0))
    return float(spread) if spread.ndim == 0 else spread


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

    def entropy(self, t, base, order=1.0):
        return spectral_entropy(self.eigenvalues, t, base, order)

    def entropy_std(self, t, base, order=1.0):
        check_order(order)
        return 0.0 if np.ndim(t) == 0 else np.zeros(np.shape(t))

    def entropy_jackknife(self, t, base, order=1.0) -> np.ndarray:
        """No probes, so no leave-one-out estimates: empty (the estimate is exact)."""
        check_order(order)
        return np.empty(0)
