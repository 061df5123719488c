"""Diffusion spectral entropy: the engine and the public function."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.utils import check_random_state

from ._kernels import KernelDiagnostics, diffusion_operator, resolve_bandwidth, warn_if_degenerate
from ._spectrum import exact_eigenvalues, spectral_entropy
from ._validation import check_dense_fits, check_entropy_params, check_X


@dataclass(frozen=True)
class Spectrum:
    """Eigenvalues (descending) of one diffusion operator and its diagnostics."""

    eigenvalues: np.ndarray
    diagnostics: KernelDiagnostics

    def entropy(self, t: float, base: float) -> float:
        return spectral_entropy(self.eigenvalues, t, base)


def diffusion_spectrum(X: np.ndarray, sigma: float, solver: str = "exact") -> Spectrum:
    """Spectrum of the diffusion operator of validated ``X`` at bandwidth ``sigma``.

    The single place where an operator is built and solved; every entropy
    (DSE, each DSMI term) comes through here.
    """
    n = X.shape[0]
    if n == 1 or not np.any(np.ptp(X, axis=0)):
        # One distinct point: A = 11^T / n exactly, spectrum {1, 0, ..., 0}.
        eigenvalues = np.zeros(n)
        eigenvalues[0] = 1.0
        return Spectrum(eigenvalues, KernelDiagnostics(n, 1.0, n - 1.0, all_duplicates=True))
    check_dense_fits(n)
    A, diag = diffusion_operator(X, sigma)
    return Spectrum(exact_eigenvalues(A), diag)


def subsample_indices(
    n: int, max_samples: int | None, rng: np.random.Generator | np.random.RandomState
):
    """Sorted indices of a uniform subsample without replacement, or None if ``n`` fits."""
    if max_samples is None or n <= max_samples:
        return None
    return np.sort(rng.choice(n, max_samples, replace=False))


@dataclass(frozen=True)
class DSEResult:
    entropy: float
    eigenvalues: np.ndarray
    bandwidth: float
    n_samples_used: int


def compute_dse(
    X: np.ndarray,
    *,
    bandwidth,
    t: float,
    base: float,
    max_samples: int | None,
    solver: str,
    random_state=None,
    warn_stacklevel: int = 4,
) -> DSEResult:
    """DSE of validated ``X`` with validated parameters.

    A float ``bandwidth`` is used as sigma; a string is resolved on the full
    ``X`` before any subsampling.
    """
    rng = check_random_state(random_state)
    idx = subsample_indices(X.shape[0], max_samples, rng)
    sigma = resolve_bandwidth(X, bandwidth, random_state=rng)
    Xs = X if idx is None else X[idx]
    spec = diffusion_spectrum(Xs, sigma, solver)
    warn_if_degenerate(spec.diagnostics, sigma, stacklevel=warn_stacklevel)
    return DSEResult(spec.entropy(t, base), spec.eigenvalues, sigma, Xs.shape[0])


def diffusion_spectral_entropy(
    X,
    *,
    bandwidth="scale",
    t=1,
    base=2,
    max_samples=10000,
    solver="exact",
    random_state=None,
) -> float:
    """Diffusion spectral entropy (DSE) of a set of points.

    Builds the Gaussian affinity ``G_ij = exp(-||x_i - x_j||^2 / (2 sigma^2))``,
    its symmetric diffusion operator ``D^-1/2 G D^-1/2`` (the eigenvalues of
    the random-walk matrix ``P = D^-1 G``), and returns the Shannon entropy of
    ``p_i = |lambda_i|^t / sum_j |lambda_j|^t``. It lies in ``[0, log_base N]``:
    0 when the kernel sees one blob, ``log_base N`` when every point is isolated.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        The representation (for example a layer's activations). At least two
        finite rows; sparse matrices are refused (densify them).
    bandwidth : float, "scale" or "median", default="scale"
        Kernel width sigma. ``"scale"`` uses ``2 sigma^2 = sum_j Var(X[:, j])``
        (scikit-learn's SVC ``gamma="scale"`` on feature-centred X) and is
        invariant to rescaling, rotating and translating X;
        ``"median"`` is the median pairwise distance; a float is a fixed sigma
        (``10.0`` reproduces the paper and ``dse-dsmi``).
    t : float, default=1
        Diffusion time: the power of the eigenvalues. Larger t suppresses the
        small, noise-driven eigenvalues and lowers the entropy.
    base : float, default=2
        Logarithm base; 2 gives bits, ``math.e`` nats.
    max_samples : int or None, default=10000
        Above this many rows, DSE is computed on a seeded uniform subsample
        without replacement (the exact solver costs O(N^3) time and 8 N^2
        bytes). None uses every row.
    solver : {"exact"}, default="exact"
        ``"exact"``: all eigenvalues by LAPACK's symmetric eigensolver.
    random_state : int, RandomState instance or None, default=None
        Seeds the subsample and the ``"median"`` bandwidth estimate.

    Returns
    -------
    float
        DSE in units of ``log(base)``.

    Raises
    ------
    InsufficientMemoryError
        When the N x N operator would not fit in the available memory.

    Warns
    -----
    UserWarning
        When the bandwidth makes the kernel degenerate (all affinities ~1 or ~0).

    See Also
    --------
    DiffusionSpectralEntropy : the same measure as a scikit-learn estimator.

    Examples
    --------
    >>> import numpy as np
    >>> from skdse import diffusion_spectral_entropy
    >>> X = np.random.default_rng(0).normal(size=(200, 5))
    >>> h = diffusion_spectral_entropy(X, bandwidth="scale", t=1)
    >>> bool(0 <= h <= np.log2(200))
    True
    """
    params = check_entropy_params(
        bandwidth=bandwidth, t=t, base=base, max_samples=max_samples, solver=solver
    )
    X = check_X(X)
    return compute_dse(
        X,
        bandwidth=params["bandwidth"],
        t=params["t"],
        base=params["base"],
        max_samples=params["max_samples"],
        solver=params["solver"],
        random_state=random_state,
    ).entropy
