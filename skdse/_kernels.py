"""Bandwidth, Gaussian affinity and the symmetric diffusion operator.

The operator is ``A = D^-1/2 G D^-1/2`` with ``G_ij = exp(-||x_i - x_j||^2 /
(2 sigma^2))`` and ``D = diag(G 1)``. It has the eigenvalues of the diffusion
matrix ``P = D^-1 G``, is symmetric, and is built in one N x N buffer, a row
block at a time, with array-API operations on whatever device X lives.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from array_api_compat import device
from sklearn.utils import check_random_state

from ._backend import namespace, to_numpy

#: Rows of the distance matrix computed at once; keeps each block in cache.
BLOCK_ROWS = 256
#: Points used to estimate the median pairwise distance.
MEDIAN_MAX_POINTS = 2000
#: Mean off-diagonal affinity above which the kernel is "all ones".
WIDE_AFFINITY = 0.99
#: Mean off-diagonal affinity mass per point below which points are isolated.
NARROW_MASS = 0.01


def resolve_bandwidth(X, bandwidth, *, random_state=None) -> float:
    """Turn a bandwidth specification into a positive float sigma.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        Validated data, on any array-API backend.
    bandwidth : float, "scale" or "median"
        A float is returned as is. ``"scale"`` follows scikit-learn's SVC
        convention ``gamma = 1 / (n_features * X.var())``, that is
        ``2 sigma^2 = n_features * X.var()``, computed after centring each
        feature: ``2 sigma^2 = sum_j Var(X[:, j])``, the total variance (half
        the mean squared pairwise distance). Centring makes it invariant to
        rotating and translating X, which the pooled ``X.var()`` is not.
        ``"median"`` is the median pairwise Euclidean distance, on a seeded
        subsample of at most 2000 points (zero distances from duplicated
        points are left out when they are the majority).
    random_state : int, RandomState instance or None
        Seeds the subsample of ``"median"``.

    Returns
    -------
    sigma : float
        1.0 when the data has no spread (every row equal).
    """
    if not isinstance(bandwidth, str):
        return float(bandwidth)
    xp = namespace(X)
    if bandwidth == "scale":
        # Total variance: n_features * X.var() once each feature is centred.
        sigma2 = float(xp.sum(xp.var(X, axis=0))) / 2.0
        return math.sqrt(sigma2) if sigma2 > 0 else 1.0
    # "median": on the host, from at most MEDIAN_MAX_POINTS rows.
    n = X.shape[0]
    if n > MEDIAN_MAX_POINTS:
        rng = check_random_state(random_state)
        idx = np.sort(rng.choice(n, MEDIAN_MAX_POINTS, replace=False))
        X = xp.take(X, xp.asarray(idx, device=device(X)), axis=0)
    X = to_numpy(X).astype(np.float64)
    d2 = squared_distances(X - X.mean(axis=0))
    d = np.sqrt(d2[np.triu_indices(X.shape[0], k=1)])
    med = float(np.median(d))
    if med > 0:
        return med
    positive = d[d > 0]
    return float(np.median(positive)) if positive.size else 1.0


def squared_distance_block(Z, sq, start: int, stop: int, xp):
    """Rows ``start:stop`` of the pairwise squared distances of the rows of Z.

    Norm expansion, clipped at 0, with the diagonal exactly 0. Centre Z
    first: the expansion loses precision when the norms dwarf the distances.
    """
    blk = (sq[start:stop, None] + sq[None, :]) - 2.0 * (Z[start:stop, ...] @ Z.T)
    blk = xp.clip(blk, min=0.0)
    rows = xp.arange(start, stop, device=device(Z))[:, None]
    cols = xp.arange(Z.shape[0], device=device(Z))[None, :]
    return xp.where(rows == cols, xp.zeros_like(blk), blk)


def squared_distances(Z) -> np.ndarray:
    """All pairwise squared Euclidean distances of the rows of Z (small Z only)."""
    xp = namespace(Z)
    sq = xp.sum(Z * Z, axis=1)
    return squared_distance_block(Z, sq, 0, Z.shape[0], xp)


@dataclass(frozen=True)
class KernelDiagnostics:
    """Summary of the off-diagonal affinities, read from the degrees.

    ``mean_affinity`` is the mean off-diagonal affinity (1 when every point
    looks the same to the kernel); ``mean_mass`` is the mean total affinity a
    point gives to the others (0 when every point is isolated).
    """

    n_samples: int
    mean_affinity: float
    mean_mass: float
    all_duplicates: bool = False

    @classmethod
    def from_degrees(cls, degrees):
        n = degrees.shape[0]
        mass = float(namespace(degrees).mean(degrees)) - 1.0
        return cls(n, mass / (n - 1) if n > 1 else 0.0, mass)

    def problem(self) -> str | None:
        """``"wide"``, ``"narrow"`` or None."""
        if self.n_samples < 3 or self.all_duplicates:
            return None
        if self.mean_affinity > WIDE_AFFINITY:
            return "wide"
        if self.mean_mass < NARROW_MASS:
            return "narrow"
        return None


def warn_if_degenerate(diag: KernelDiagnostics, sigma: float, stacklevel: int = 3) -> None:
    """One :class:`UserWarning` when the kernel carries no structure."""
    problem = diag.problem()
    if problem == "wide":
        msg = (
            f"bandwidth={sigma:.4g} is too large for this data: the mean off-diagonal "
            f"affinity is {diag.mean_affinity:.4f}, so the diffusion operator has one "
            "eigenvalue 1 and a near-zero bulk and DSE is close to 0 whatever the data. "
            "Use bandwidth='scale' or 'median', or a smaller float."
        )
    elif problem == "narrow":
        msg = (
            f"bandwidth={sigma:.4g} is too small for this data: each point gives a mean "
            f"affinity mass of {diag.mean_mass:.2e} to all others, so the diffusion "
            "operator is close to the identity and DSE is close to log(N) whatever the "
            "data. Use bandwidth='scale' or 'median', or a larger float."
        )
    else:
        return
    warnings.warn(msg, UserWarning, stacklevel=stacklevel)


def diffusion_operator(X, sigma: float, dtype=None):
    """Dense symmetric diffusion operator of ``X`` at bandwidth ``sigma``.

    Written against the array API: X may be a NumPy, CuPy, PyTorch or any
    standard-conforming array, and A is computed on X's device. One N x N
    array of ``dtype`` (default X's floating dtype) is allocated and filled a
    row block at a time; temporaries stay one block in size. Degrees are
    summed in float64 whatever ``dtype``.

    Returns
    -------
    A : array of shape (n_samples, n_samples)
        ``D^-1/2 G D^-1/2``, eigenvalues in [0, 1] up to rounding.
    degrees : array of shape (n_samples,)
        ``d = G 1`` in float64, on X's device.
    """
    xp = namespace(X)
    dtype = X.dtype if dtype is None else dtype
    dev = device(X)
    Z = (X - xp.mean(X, axis=0)) / (sigma * math.sqrt(2.0))
    Z = xp.astype(Z, dtype)
    sq = xp.sum(Z * Z, axis=1)
    n = Z.shape[0]
    A = xp.empty((n, n), dtype=dtype, device=dev)
    degrees = xp.empty((n,), dtype=xp.float64, device=dev)
    for start in range(0, n, BLOCK_ROWS):
        stop = min(start + BLOCK_ROWS, n)
        blk = xp.exp(-squared_distance_block(Z, sq, start, stop, xp))
        A[start:stop, :] = blk
        degrees[start:stop] = xp.sum(xp.astype(blk, xp.float64), axis=1)
    s = xp.astype(1.0 / xp.sqrt(degrees), dtype)
    for start in range(0, n, BLOCK_ROWS):
        stop = min(start + BLOCK_ROWS, n)
        A[start:stop, :] = A[start:stop, :] * s[start:stop, None] * s[None, :]
    return A, degrees
