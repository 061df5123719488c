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
from ._params import BASELINE, PARTITION, validated
from ._partition import bin_columns, partition_reference
from ._validation import check_X


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


def _sigma(X, *, measure, kind, bandwidth, random_state):
    """The kernel width the measure needs, or None (classic, binary kNN adjacency)."""
    if measure == "classic" or (measure == "adjacency" and kind == "knn"):
        return None
    return resolve_bandwidth(X, bandwidth, random_state=random_state)


def baseline_entropy(
    X,
    *,
    measure,
    bandwidth=BASELINE.bandwidth,
    n_bins_per_dim=BASELINE.n_bins_per_dim,
    kind=BASELINE.kind,
    n_neighbors=BASELINE.n_neighbors,
    base,
    max_samples,
    random_state,
) -> tuple[float, float | None]:
    """Entropy of validated host X by one baseline, validated parameters; returns (entropy, sigma).

    ``bandwidth``, ``n_bins_per_dim``, ``kind`` and ``n_neighbors`` matter
    only to the measures that read them.
    """
    rng = check_random_state(random_state)
    idx = subsample_indices(X.shape[0], max_samples, rng)
    sigma = _sigma(X, measure=measure, kind=kind, bandwidth=bandwidth, random_state=rng)
    Xs = X if idx is None else X[idx]
    h, _ = _term(
        Xs,
        None,
        measure=measure,
        sigma=sigma,
        n_bins_per_dim=n_bins_per_dim,
        kind=kind,
        n_neighbors=n_neighbors,
        base=base,
    )
    return h, sigma


def baseline_mi(
    X,
    labels,
    *,
    measure,
    bandwidth=BASELINE.bandwidth,
    n_bins_per_dim=BASELINE.n_bins_per_dim,
    kind=BASELINE.kind,
    n_neighbors=BASELINE.n_neighbors,
    base,
    max_samples,
    n_repeats,
    random_state,
    n_jobs,
) -> DSMIResult:
    """Matched-subset MI of validated host X with group labels by one baseline."""
    n_groups = len(np.unique(labels))
    bw_seed, *group_seeds = seed_sequence(random_state).spawn(1 + n_groups)
    bw_rng = np.random.RandomState(bw_seed.generate_state(1)[0])
    sigma = _sigma(X, measure=measure, kind=kind, bandwidth=bandwidth, random_state=bw_rng)
    term = functools.partial(
        _term,
        measure=measure,
        sigma=sigma,
        n_bins_per_dim=n_bins_per_dim,
        kind=kind,
        n_neighbors=n_neighbors,
        base=base,
    )
    groups, sizes, conditional, marginal, *_ = matched_subset_mi(
        X,
        labels,
        term,
        n_repeats=n_repeats,
        max_samples=max_samples,
        group_seeds=group_seeds,
        n_jobs=n_jobs,
        desc=f"{measure} MI terms",
    )
    return mi_result(groups, sizes, conditional, marginal, sigma)


@validated(BASELINE)
def classic_shannon_entropy(
    X,
    *,
    n_bins_per_dim=BASELINE.n_bins_per_dim,
    base=BASELINE.base,
    max_samples=BASELINE.max_samples,
    random_state=BASELINE.random_state,
    flatten=BASELINE.flatten,
):
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
    flatten : bool, default=False
        Reshape an N-D X (n_samples, d1, d2, ...) to (n_samples, -1), as
        :func:`skdse.diffusion_spectral_entropy` does.

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
    return baseline_entropy(
        check_X(X, flatten=flatten),
        measure="classic",
        n_bins_per_dim=n_bins_per_dim,
        base=base,
        max_samples=max_samples,
        random_state=random_state,
    )[0]


@validated(BASELINE)
def diffusion_matrix_entry_entropy(
    X,
    *,
    bandwidth=BASELINE.bandwidth,
    base=BASELINE.base,
    max_samples=BASELINE.max_samples,
    random_state=BASELINE.random_state,
    flatten=BASELINE.flatten,
):
    """Entropy of the diffusion matrix's entries (the paper's alternative formulation).

    ``P`` is the row-normalised symmetric diffusion operator, as in
    ``dse-dsmi``; the entropy is that of ``|P_ij| / N`` over all entries.
    ``flatten=True`` reshapes an N-D X to (n_samples, -1) first, as in
    :func:`classic_shannon_entropy`.

    Examples
    --------
    >>> import numpy as np
    >>> from skdse.baselines import diffusion_matrix_entry_entropy
    >>> X = np.random.default_rng(0).normal(size=(50, 2))
    >>> bool(0 < diffusion_matrix_entry_entropy(X) <= 2 * np.log2(50))
    True
    """
    return baseline_entropy(
        check_X(X, flatten=flatten),
        measure="matrix_entry",
        bandwidth=bandwidth,
        base=base,
        max_samples=max_samples,
        random_state=random_state,
    )[0]


@validated(BASELINE)
def adjacency_spectral_entropy(
    X,
    *,
    kind=BASELINE.kind,
    bandwidth=BASELINE.bandwidth,
    n_neighbors=BASELINE.n_neighbors,
    base=BASELINE.base,
    max_samples=BASELINE.max_samples,
    random_state=BASELINE.random_state,
    flatten=BASELINE.flatten,
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
    flatten : bool, default=False
        Reshape an N-D X (n_samples, d1, d2, ...) to (n_samples, -1), as
        :func:`skdse.diffusion_spectral_entropy` does.

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
    return baseline_entropy(
        check_X(X, flatten=flatten),
        measure="adjacency",
        kind=kind,
        bandwidth=bandwidth,
        n_neighbors=n_neighbors,
        base=base,
        max_samples=max_samples,
        random_state=random_state,
    )[0]


def _labels(X, y, *, y_type, n_bins, n_clusters, clusterer, random_state):
    """The groups of y for the baseline MI functions, as the estimators make them."""
    return partition_reference(
        y,
        n_samples=X.shape[0],
        y_type=y_type,
        n_bins=n_bins,
        n_clusters=n_clusters,
        clusterer=clusterer,
        random_state=random_state,
    )


@validated(BASELINE, PARTITION, prefer_skip_nested_validation=False)  # a user's clusterer
def classic_mutual_information(
    X,
    y,
    *,
    n_bins_per_dim=BASELINE.n_bins_per_dim,
    base=BASELINE.base,
    n_repeats=BASELINE.n_repeats,
    max_samples=BASELINE.max_samples,
    y_type=PARTITION.y_type,
    n_bins=PARTITION.n_bins,
    n_clusters=PARTITION.n_clusters,
    clusterer=PARTITION.clusterer,
    random_state=BASELINE.random_state,
    n_jobs=BASELINE.n_jobs,
    flatten=BASELINE.flatten,
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
    X = check_X(X, flatten=flatten)
    labels = _labels(
        X,
        y,
        y_type=y_type,
        n_bins=n_bins,
        n_clusters=n_clusters,
        clusterer=clusterer,
        random_state=random_state,
    )
    return baseline_mi(
        X,
        labels,
        measure="classic",
        n_bins_per_dim=n_bins_per_dim,
        base=base,
        max_samples=max_samples,
        n_repeats=n_repeats,
        random_state=random_state,
        n_jobs=n_jobs,
    ).mutual_information


@validated(BASELINE, PARTITION, prefer_skip_nested_validation=False)  # a user's clusterer
def adjacency_spectral_mutual_information(
    X,
    y,
    *,
    kind=BASELINE.kind,
    bandwidth=BASELINE.bandwidth,
    n_neighbors=BASELINE.n_neighbors,
    base=BASELINE.base,
    n_repeats=BASELINE.n_repeats,
    max_samples=BASELINE.max_samples,
    y_type=PARTITION.y_type,
    n_bins=PARTITION.n_bins,
    n_clusters=PARTITION.n_clusters,
    clusterer=PARTITION.clusterer,
    random_state=BASELINE.random_state,
    n_jobs=BASELINE.n_jobs,
    flatten=BASELINE.flatten,
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
    X = check_X(X, flatten=flatten)
    labels = _labels(
        X,
        y,
        y_type=y_type,
        n_bins=n_bins,
        n_clusters=n_clusters,
        clusterer=clusterer,
        random_state=random_state,
    )
    return baseline_mi(
        X,
        labels,
        measure="adjacency",
        kind=kind,
        bandwidth=bandwidth,
        n_neighbors=n_neighbors,
        base=base,
        max_samples=max_samples,
        n_repeats=n_repeats,
        random_state=random_state,
        n_jobs=n_jobs,
    ).mutual_information


@validated(BASELINE, PARTITION, prefer_skip_nested_validation=False)  # a user's clusterer
def matrix_entry_mutual_information(
    X,
    y,
    *,
    bandwidth=BASELINE.bandwidth,
    base=BASELINE.base,
    n_repeats=BASELINE.n_repeats,
    max_samples=BASELINE.max_samples,
    y_type=PARTITION.y_type,
    n_bins=PARTITION.n_bins,
    n_clusters=PARTITION.n_clusters,
    clusterer=PARTITION.clusterer,
    random_state=BASELINE.random_state,
    n_jobs=BASELINE.n_jobs,
    flatten=BASELINE.flatten,
):
    """Mutual information from the diffusion-matrix-entry entropy, matched subsets as DSMI.

    Parameters are those of :func:`diffusion_matrix_entry_entropy` and, for y, of
    :func:`diffusion_spectral_mutual_information`.

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
    X = check_X(X, flatten=flatten)
    labels = _labels(
        X,
        y,
        y_type=y_type,
        n_bins=n_bins,
        n_clusters=n_clusters,
        clusterer=clusterer,
        random_state=random_state,
    )
    return baseline_mi(
        X,
        labels,
        measure="matrix_entry",
        bandwidth=bandwidth,
        base=base,
        max_samples=max_samples,
        n_repeats=n_repeats,
        random_state=random_state,
        n_jobs=n_jobs,
    ).mutual_information
