"""Bandwidth, Gaussian affinity and the symmetric diffusion operator.

The operator is ``A = D^-1/2 G D^-1/2`` with ``G_ij = exp(-||x_i - x_j||^2 /
(2 sigma^2))`` and ``D = diag(G 1)``. It has the eigenvalues of the diffusion
matrix ``P = D^-1 G``, is symmetric, and is built in place in one N x N buffer.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.utils import check_random_state

#: Rows of the distance matrix computed at once; keeps each block in cache.
BLOCK_ROWS = 256
#: Points used to estimate the median pairwise distance.
MEDIAN_MAX_POINTS = 2000
#: Mean off-diagonal affinity above which the kernel is "all ones".
WIDE_AFFINITY = 0.99
#: Mean off-diagonal affinity mass per point below which points are isolated.
NARROW_MASS = 0.01


def resolve_bandwidth(X: np.ndarray, bandwidth, *, random_state=None) -> float:
    """Turn a bandwidth specification into a positive float sigma.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Validated data.
    bandwidth : float, "scale" or "median"
        A float is returned as is. ``"scale"`` follows scikit-learn's SVC
        convention ``gamma = 1 / (n_features * X.var())``, that is
        ``2 sigma^2 = n_features * X.var()``, computed after centring each
        feature: ``2 sigma^2 = sum_j Var(X[:, j])``, the total variance (half
        the mean squared pairwise distance). Centring makes it invariant to
        rotating and translating X, which the pooled ``X.var()`` is not. ``"median"`` is the median
        pairwise Euclidean distance, on a seeded subsample of at most
        2000 points (zero distances from duplicated points are left out
        when they are the majority).
    random_state : int, RandomState instance or None
        Seeds the subsample of ``"median"``.

    Returns
    -------
    sigma : float
        1.0 when the data has no spread (every row equal).
    """
    if not isinstance(bandwidth, str):
        return float(bandwidth)
    if bandwidth == "scale":
        # Total variance: n_features * X.var() once each feature is centred.
        sigma2 = float(X.var(axis=0).sum()) / 2.0
        return float(np.sqrt(sigma2)) if sigma2 > 0 else 1.0
    # "median"
    n = X.shape[0]
    if n > MEDIAN_MAX_POINTS:
        rng = check_random_state(random_state)
        X = X[np.sort(rng.choice(n, MEDIAN_MAX_POINTS, replace=False))]
    d2 = squared_distances(X - X.mean(axis=0))
    d = np.sqrt(d2[np.triu_indices(X.shape[0], k=1)])
    med = float(np.median(d))
    if med > 0:
        return med
    positive = d[d > 0]
    return float(np.median(positive)) if positive.size else 1.0


def squared_distances(X: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Pairwise squared Euclidean distances by the norm expansion, clipped at 0.

    Computed in row blocks into ``out`` (allocated when None) so that the
    temporaries stay one block in size. The diagonal is exactly 0. Centre X
    first: the expansion loses precision when the norms dwarf the distances.
    """
    n = X.shape[0]
    if out is None:
        out = np.empty((n, n), dtype=X.dtype)
    sq = np.einsum("ij,ij->i", X, X)
    for start in range(0, n, BLOCK_ROWS):
        stop = min(start + BLOCK_ROWS, n)
        blk = out[start:stop]
        np.matmul(X[start:stop], X.T, out=blk)
        blk *= -2.0
        blk += sq[start:stop, None]
        blk += sq[None, :]
        np.maximum(blk, 0.0, out=blk)
        idx = np.arange(start, stop)
        blk[idx - start, idx] = 0.0
    return out


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
    def from_degrees(cls, degrees: np.ndarray):
        n = degrees.shape[0]
        mass = float(degrees.mean()) - 1.0
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


def diffusion_operator(
    X: np.ndarray, sigma: float, dtype=np.float64
) -> tuple[np.ndarray, np.ndarray]:
    """Dense symmetric diffusion operator of ``X`` at bandwidth ``sigma``.

    One N x N array of ``dtype`` is allocated; distances, kernel and
    normalisation are all done in place on it, a row block at a time
    (degrees are summed in float64 whatever ``dtype``).

    Returns
    -------
    A : ndarray of shape (n_samples, n_samples)
        ``D^-1/2 G D^-1/2``, eigenvalues in [0, 1] up to rounding.
    degrees : ndarray of shape (n_samples,)
        ``d = G 1`` in float64.
    """
    Z = X - X.mean(axis=0)
    Z /= sigma * np.sqrt(2.0)
    A = squared_distances(Z.astype(dtype, copy=False))
    n = A.shape[0]
    degrees = np.empty(n)
    for start in range(0, n, BLOCK_ROWS):
        blk = A[start : start + BLOCK_ROWS]
        np.negative(blk, out=blk)
        np.exp(blk, out=blk)
        degrees[start : start + BLOCK_ROWS] = blk.sum(axis=1, dtype=np.float64)
    s = (1.0 / np.sqrt(degrees)).astype(dtype)
    for start in range(0, n, BLOCK_ROWS):
        blk = A[start : start + BLOCK_ROWS]
        blk *= s[start : start + BLOCK_ROWS, None]
        blk *= s[None, :]
    return A, degrees
