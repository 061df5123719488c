"""The paper's baselines and variants, kept to reproduce its comparisons.

- classic Shannon entropy of binned rows (saturates at log N in high dimension);
- entropy of the diffusion matrix's entries instead of its eigenvalues;
- adjacency spectral entropy: eigenvalues of the Gaussian affinity, of its
  symmetric normalisation, or of a binarised kNN adjacency;

and the mutual information built from each with the same partition of y
and the same matched-subset estimator as DSMI. They run on the host (NumPy).
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.linalg
from sklearn.utils import check_random_state

from ._engine.backend import namespace, to_numpy
from ._engine.kernels import diffusion_operator, gaussian_affinity, resolve_bandwidth
from ._engine.resources import check_dense_fits
from ._entropy import subsample_indices
from ._mi import DSMIResult, matched_subset_mi, mi_result, seed_sequence
from ._partition import PARTITION_KEYS, bin_columns, partition_reference
from ._validation import (
    _check_choice,
    _check_int,
    check_bandwidth,
    check_base,
    check_X,
)

MEASURES = ("classic", "matrix_entry", "adjacency")
ADJACENCY_KINDS = ("gaussian", "normalized", "knn")


def _entropy_of_weights(w: np.ndarray, base: float) -> float:
    """Shannon entropy of the distribution proportional to ``w`` (0 log 0 = 0)."""
    w = np.abs(np.asarray(w)).astype(np.float64).ravel()  # complex eigenvalues: modulus
    total = w.sum()
    if total <= 0:
        return 0.0
    p = w[w > 0] / total
    h = np.clip(-np.sum(p * np.log(p)), 0.0, np.log(max(p.size, 1))) / np.log(base)
    return float(h) + 0.0  # no -0.0


def classic_entropy_of(X: np.ndarray, n_bins_per_dim: int, base: float) -> float:
    """Entropy of the counts of distinct binned rows of X."""
    if X.shape[0] < 2:
        return 0.0
    counts = np.unique(bin_columns(X, n_bins_per_dim), axis=0, return_counts=True)[1]
    return _entropy_of_weights(counts, base)


def matrix_entry_entropy_of(X: np.ndarray, sigma: float, base: float) -> float:
    """Entropy of the entries of the row-normalised symmetric diffusion operator.

    As ``dse-dsmi`` does: ``P = rownorm(D^-1/2 G D^-1/2)`` (the diffusion-maps
    operator with alpha = 1/2); its entries sum to N.
    """
    if X.shape[0] < 2:
        return 0.0
    check_dense_fits(X.shape[0])
    A, _ = diffusion_operator(X, sigma)
    xp = namespace(A)  # any array-API namespace: no array methods
    return _entropy_of_weights(to_numpy(A / xp.sum(A, axis=1, keepdims=True)), base)


def knn_binary_adjacency(X: np.ndarray, n_neighbors: int) -> np.ndarray:
    """``dse-dsmi``'s binarised kNN adjacency: 1 where d_ij <= row i's k-th smallest distance.

    The point itself counts as its first neighbour and ties are all kept, so
    rows can have more than ``n_neighbors`` ones; the matrix is not symmetric.
    """
    from sklearn.metrics import pairwise_distances

    D = pairwise_distances(X)
    k = min(n_neighbors, X.shape[0])
    kth = np.partition(D, k - 1, axis=1)[:, k - 1]
    return (D <= kth[:, None]).astype(np.float64)


def adjacency_entropy_of(X: np.ndarray, kind: str, sigma, n_neighbors: int, base: float) -> float:
    """Entropy of the normalised absolute eigenvalues of an adjacency matrix of X."""
    if X.shape[0] < 2:
        return 0.0
    check_dense_fits(X.shape[0])
    if kind == "knn":
        return _entropy_of_weights(np.linalg.eigvals(knn_binary_adjacency(X, n_neighbors)), base)
    if kind == "normalized":
        A, _ = diffusion_operator(X, sigma)
    else:
        A, _ = gaussian_affinity(X, sigma)
    w = scipy.linalg.eigh(A, eigvals_only=True, overwrite_a=True, check_finite=False)
    return _entropy_of_weights(w, base)


def _term(Xs, seed, *, measure, sigma, n_bins_per_dim, kind, n_neighbors, base):
    if measure == "classic":
        return classic_entropy_of(Xs, n_bins_per_dim, base), None
    if measure == "matrix_entry":
        return matrix_entry_entropy_of(Xs, sigma, base), None
    return adjacency_entropy_of(Xs, kind, sigma, n_neighbors, base), None


_TERM_KEYS = ("measure", "n_bins_per_dim", "kind", "n_neighbors", "base")


def _check_baseline(
    measure,
    *,
    bandwidth="scale",
    n_bins_per_dim=2,
    kind="gaussian",
    n_neighbors=10,
    base=2,
    max_samples=10000,
):
    """Validated baseline parameters; the defaults are the public functions' defaults."""
    return dict(
        measure=_check_choice("measure", measure, MEASURES),
        bandwidth=check_bandwidth(bandwidth) if bandwidth != "knn" else _bad_knn(),
        n_bins_per_dim=_check_int("n_bins_per_dim", n_bins_per_dim, lower=1),
        kind=_check_choice("kind", kind, ADJACENCY_KINDS),
        n_neighbors=_check_int("n_neighbors", n_neighbors, lower=1),
        base=check_base(base),
        max_samples=_check_int("max_samples", max_samples, lower=2, allow_none=True),
    )


def _sigma(X, p: dict, random_state):
    """The kernel width the measure needs, or None (classic, binary kNN adjacency)."""
    if p["measure"] == "classic" or (p["measure"] == "adjacency" and p["kind"] == "knn"):
        return None
    return resolve_bandwidth(X, p["bandwidth"], random_state=random_state)


def _bad_knn():
    raise ValueError(
        "bandwidth='knn' is not a width (the diffusion measures take affinity='knn'); "
        "use a float, 'scale' or 'median'."
    )


def baseline_entropy(X, *, random_state=None, **params) -> tuple[float, float | None]:
    """Entropy of validated host X by one baseline; returns (entropy, sigma)."""
    p = _check_baseline(**params)
    rng = check_random_state(random_state)
    idx = subsample_indices(X.shape[0], p["max_samples"], rng)
    sigma = _sigma(X, p, rng)
    Xs = X if idx is None else X[idx]
    return _term(Xs, None, sigma=sigma, **{k: p[k] for k in _TERM_KEYS})[0], sigma


def baseline_mi(X, labels, *, n_repeats=5, random_state=None, n_jobs=None, **params) -> DSMIResult:
    """Matched-subset MI of validated host X with group labels by one baseline."""
    p = _check_baseline(**params)
    n_repeats = _check_int("n_repeats", n_repeats, lower=1)
    n_groups = len(np.unique(labels))
    bw_seed, *group_seeds = seed_sequence(random_state).spawn(1 + n_groups)
    sigma = _sigma(X, p, np.random.RandomState(bw_seed.generate_state(1)[0]))
    term = functools.partial(_term, sigma=sigma, **{k: p[k] for k in _TERM_KEYS})
    groups, sizes, conditional, marginal, _ = matched_subset_mi(
        X,
        labels,
        term,
        n_repeats=n_repeats,
        max_samples=p["max_samples"],
        group_seeds=group_seeds,
        n_jobs=n_jobs,
        desc=f"{p['measure']} MI terms",
    )
    return mi_result(groups, sizes, conditional, marginal, sigma)


def classic_shannon_entropy(X, *, n_bins_per_dim=2, base=2, max_samples=10000, random_state=None):
    """Classic Shannon entropy of binned representations (the paper's baseline).

    Each feature is min-max scaled and cut into ``n_bins_per_dim`` equal-width
    bins; the entropy is that of the counts of distinct binned rows. In high
    dimension almost every row falls in its own bin and it saturates at
    ``log_base N``, which is the paper's point.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    n_bins_per_dim : int, default=2
    base : float, default=2
    max_samples : int or None, default=10000
        Uniform seeded subsample above this many rows.
    random_state : int, RandomState instance or None

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> from skdse.baselines import classic_shannon_entropy
    >>> classic_shannon_entropy(np.eye(4))  # four distinct binned rows
    2.0
    >>> classic_shannon_entropy(np.ones((5, 3)))
    0.0
    """
    params = dict(n_bins_per_dim=n_bins_per_dim, base=base, max_samples=max_samples)
    return baseline_entropy(check_X(X), measure="classic", random_state=random_state, **params)[0]


def diffusion_matrix_entry_entropy(
    X, *, bandwidth="scale", base=2, max_samples=10000, random_state=None
):
    """Entropy of the diffusion matrix's entries (the paper's alternative formulation).

    ``P`` is the row-normalised symmetric diffusion operator, as in
    ``dse-dsmi``; the entropy is that of ``|P_ij| / N`` over all entries.

    Examples
    --------
    >>> import numpy as np
    >>> from skdse.baselines import diffusion_matrix_entry_entropy
    >>> X = np.random.default_rng(0).normal(size=(50, 2))
    >>> bool(0 < diffusion_matrix_entry_entropy(X) <= 2 * np.log2(50))
    True
    """
    params = dict(bandwidth=bandwidth, base=base, max_samples=max_samples)
    return baseline_entropy(
        check_X(X), measure="matrix_entry", random_state=random_state, **params
    )[0]


def adjacency_spectral_entropy(
    X,
    *,
    kind="gaussian",
    bandwidth="scale",
    n_neighbors=10,
    base=2,
    max_samples=10000,
    random_state=None,
):
    """Entropy of the absolute eigenvalues of an adjacency matrix (the paper's ablation).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    kind : {"gaussian", "normalized", "knn"}, default="gaussian"
        The Gaussian affinity G; its symmetric normalisation
        ``D^-1/2 G D^-1/2`` (``dse-dsmi``'s ``anisotropic=True``); or the
        binarised kNN adjacency of ``dse-dsmi`` (``use_knn=True``: the point
        itself counts as a neighbour, ties are kept, not symmetrised).
    bandwidth : float, "scale" or "median", default="scale"
    n_neighbors : int, default=10
    base : float, default=2
    max_samples : int or None, default=10000
    random_state : int, RandomState instance or None

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> from skdse.baselines import adjacency_spectral_entropy
    >>> X = np.random.default_rng(0).normal(size=(60, 3))
    >>> [round(adjacency_spectral_entropy(X, kind=k), 1) >= 0 for k in ("gaussian", "knn")]
    [True, True]
    """
    params = dict(
        kind=kind, bandwidth=bandwidth, n_neighbors=n_neighbors, base=base, max_samples=max_samples
    )
    return baseline_entropy(check_X(X), measure="adjacency", random_state=random_state, **params)[0]


def _mi_function(measure, args: dict) -> float:
    """The public baseline MI functions: ``args`` is the caller's ``locals()``."""
    args = dict(args)
    X, y = check_X(args.pop("X")), args.pop("y")
    random_state, n_jobs = args.pop("random_state"), args.pop("n_jobs")
    partition = {k: args.pop(k) for k in PARTITION_KEYS}
    labels = partition_reference(y, n_samples=X.shape[0], random_state=random_state, **partition)
    return baseline_mi(
        X, labels, measure=measure, random_state=random_state, n_jobs=n_jobs, **args
    ).mutual_information


def classic_mutual_information(
    X,
    y,
    *,
    n_bins_per_dim=2,
    base=2,
    n_repeats=5,
    max_samples=10000,
    y_type="auto",
    n_bins=10,
    n_clusters=10,
    clusterer=None,
    random_state=None,
    n_jobs=None,
):
    """Mutual information from the classic Shannon entropy, matched subsets as DSMI.

    Parameters are those of :func:`classic_shannon_entropy` and, for y, of
    :func:`diffusion_spectral_mutual_information`.

    Examples
    --------
    >>> import numpy as np
    >>> from skdse.baselines import classic_mutual_information
    >>> y = np.repeat([0, 1], 20)
    >>> X = np.c_[y, np.random.default_rng(0).normal(size=40)]
    >>> bool(classic_mutual_information(X, y, random_state=0) > 0.5)
    True
    """
    return _mi_function("classic", locals())


def adjacency_spectral_mutual_information(
    X,
    y,
    *,
    kind="gaussian",
    bandwidth="scale",
    n_neighbors=10,
    base=2,
    n_repeats=5,
    max_samples=10000,
    y_type="auto",
    n_bins=10,
    n_clusters=10,
    clusterer=None,
    random_state=None,
    n_jobs=None,
):
    """Mutual information from the adjacency spectral entropy, matched subsets as DSMI.

    Parameters are those of :func:`adjacency_spectral_entropy` and, for y, of
    :func:`diffusion_spectral_mutual_information`.

    Examples
    --------
    >>> import numpy as np
    >>> from skdse.baselines import adjacency_spectral_mutual_information
    >>> y = np.repeat([0, 1], 30)
    >>> X = np.random.default_rng(0).normal(size=(60, 2)) + 5 * y[:, None]
    >>> bool(adjacency_spectral_mutual_information(X, y, random_state=0) > 0)
    True
    """
    return _mi_function("adjacency", locals())


def matrix_entry_mutual_information(
    X,
    y,
    *,
    bandwidth="scale",
    base=2,
    n_repeats=5,
    max_samples=10000,
    y_type="auto",
    n_bins=10,
    n_clusters=10,
    clusterer=None,
    random_state=None,
    n_jobs=None,
):
    """Mutual information from the diffusion-matrix-entry entropy, matched subsets as DSMI.

    Examples
    --------
    >>> import numpy as np
    >>> from skdse.baselines import matrix_entry_mutual_information
    >>> y = np.repeat([0, 1], 30)
    >>> X = np.random.default_rng(0).normal(size=(60, 2)) + 5 * y[:, None]
    >>> mi = matrix_entry_mutual_information(X, y, random_state=0)
    >>> bool(np.isfinite(mi))  # can be negative: a single blob has flatter entries
    True
    """
    return _mi_function("matrix_entry", locals())
