"""Partitioning a reference Y into groups for the mutual-information measures."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import clone
from sklearn.utils import check_array
from sklearn.utils.multiclass import type_of_target

from ._backend import to_numpy
from ._validation import _check_int, check_discrete_y, check_no_missing, check_not_masked

Y_TYPES = ("auto", "discrete", "continuous")
#: The parameters of :func:`partition_reference` that estimators and functions expose.
PARTITION_KEYS = ("y_type", "n_bins", "n_clusters", "clusterer")


def _as_host(y):
    if y is None:
        raise ValueError("y is required: the mutual information is measured against y.")
    y = check_not_masked(y, "y")
    if hasattr(y, "__array_namespace__") and not isinstance(y, np.ndarray):
        y = to_numpy(y)
    return np.asarray(y) if not isinstance(y, np.ndarray) else y


def resolve_y_type(y: np.ndarray, y_type: str) -> str:
    """``"discrete"``, ``"scalar"`` or ``"vector"`` for the reference y."""
    if not isinstance(y_type, str) or y_type not in Y_TYPES:
        raise ValueError(f"y_type must be one of {Y_TYPES}, got {y_type!r}.")
    if y.ndim == 2 and y.shape[1] > 1:
        if y_type == "discrete":
            raise ValueError(
                f"y_type='discrete' needs one label per sample, got y of shape {y.shape}."
            )
        return "vector"
    if y_type == "discrete":
        return "discrete"
    if y_type == "continuous":
        return "scalar"
    flat = y.ravel()
    check_no_missing(flat)
    kind = type_of_target(flat, input_name="y")
    if kind in ("binary", "multiclass"):
        return "discrete"
    if kind == "continuous":
        return "scalar"
    raise ValueError(f"Unknown label type: {kind!r}.")


def bin_scalar(y: np.ndarray, n_bins: int) -> np.ndarray:
    """Min-max scale y and cut it into ``n_bins`` equal-width bins (labels 1..n_bins).

    The same rule as ``dse-dsmi``: ``np.digitize`` with left edges
    ``linspace(0, 1, n_bins + 1)[:-1]``, so the maximum falls in the last bin.
    A constant y is one bin.
    """
    lo, hi = float(np.min(y)), float(np.max(y))
    scaled = np.zeros_like(y, dtype=float) if hi == lo else (y - lo) / (hi - lo)
    return np.digitize(scaled, np.linspace(0.0, 1.0, n_bins + 1)[:-1])


def cluster_vectors(Y: np.ndarray, *, n_clusters: int, clusterer, random_state) -> np.ndarray:
    """Cluster labels of the rows of Y (spectral clustering on a kNN graph by default)."""
    if clusterer is None:
        from sklearn.cluster import SpectralClustering

        clusterer = SpectralClustering(
            n_clusters=n_clusters,
            affinity="nearest_neighbors",
            assign_labels="cluster_qr",
            random_state=0 if random_state is None else random_state,
        )
    elif not (hasattr(clusterer, "fit_predict") or hasattr(clusterer, "fit")):
        raise TypeError(
            "clusterer must be a scikit-learn style clusterer with fit_predict, or fit "
            f"setting labels_; got {type(clusterer).__name__}."
        )
    model = clone(clusterer) if hasattr(clusterer, "get_params") else clusterer
    if hasattr(model, "fit_predict"):
        labels = model.fit_predict(Y)
    else:
        model.fit(Y)
        if not hasattr(model, "labels_"):
            raise TypeError(
                f"clusterer {type(clusterer).__name__} has no fit_predict and sets no "
                "labels_ in fit; it cannot partition the reference."
            )
        labels = model.labels_
    labels = np.asarray(labels)
    if labels.shape != (Y.shape[0],):
        raise ValueError(
            f"clusterer returned {labels.shape} labels for {Y.shape[0]} reference rows."
        )
    return labels


def partition_reference(
    y,
    *,
    n_samples: int | None = None,
    y_type: str = "auto",
    n_bins: int = 10,
    n_clusters: int = 10,
    clusterer=None,
    random_state=None,
) -> np.ndarray:
    """Group labels for a reference y: labels as they are, bins, or clusters.

    Compute it once and pass the result as ``y`` (with ``y_type="discrete"``)
    to score many representations against the same partition, which is how
    DSMI(Z; X) with the network's inputs X is tracked over training: the
    inputs are clustered once, each epoch's representation is scored against
    those clusters.

    Parameters
    ----------
    y : array-like of shape (n_samples,) or (n_samples, n_features)
        Discrete labels (integers, strings, booleans), a continuous scalar
        per sample, or a continuous vector per sample (e.g. flattened images).
    n_samples : int or None
        Expected number of samples (checked when given).
    y_type : {"auto", "discrete", "continuous"}, default="auto"
        ``"auto"`` uses scikit-learn's ``type_of_target``: integer, string and
        boolean labels are discrete, floats continuous; 2-D y is a vector.
    n_bins : int, default=10
        Equal-width bins of a min-max scaled continuous scalar.
    n_clusters : int, default=10
        Clusters of the default clusterer for a continuous vector.
    clusterer : estimator or None, default=None
        Any scikit-learn clusterer (``fit_predict`` or ``labels_``); None uses
        ``SpectralClustering(n_clusters, affinity="nearest_neighbors",
        assign_labels="cluster_qr")`` as the paper does.
    random_state : int or None
        Seed of the default clusterer (None uses 0, as ``dse-dsmi`` does).

    Returns
    -------
    labels : ndarray of shape (n_samples,)

    Examples
    --------
    >>> import numpy as np
    >>> from skdse import partition_reference
    >>> partition_reference(np.array([0.0, 0.05, 0.5, 1.0]), n_bins=4).tolist()
    [1, 1, 3, 4]
    >>> partition_reference(["a", "b", "a"]).tolist()
    ['a', 'b', 'a']
    """
    y = _as_host(y)
    if n_samples is not None and y.shape[0] != n_samples:
        raise ValueError(
            f"X and y have inconsistent numbers of samples: X has {n_samples}, y has {y.shape[0]}."
        )
    kind = resolve_y_type(y, y_type)
    if kind == "discrete":
        return check_discrete_y(y, y.shape[0])
    if kind == "scalar":
        n_bins = _check_int("n_bins", n_bins, lower=2)
        y = check_array(y.reshape(-1, 1), dtype=np.float64, ensure_all_finite=True, input_name="y")
        return bin_scalar(y[:, 0], n_bins)
    if not isinstance(n_clusters, numbers.Integral) or n_clusters < 2:
        raise ValueError(f"n_clusters must be an integer >= 2, got {n_clusters!r}.")
    Y = check_array(
        y, dtype=np.float64, ensure_all_finite=True, ensure_min_samples=2, input_name="y"
    )
    return cluster_vectors(
        Y, n_clusters=int(n_clusters), clusterer=clusterer, random_state=random_state
    )


class PartitionsReference:
    """Mixin for MI estimators: ``self._partition(X, y)`` from their partition parameters."""

    def _partition(self, X, y) -> np.ndarray:
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        return partition_reference(
            y,
            n_samples=X.shape[0],
            random_state=self.random_state,
            **{k: getattr(self, k) for k in PARTITION_KEYS},
        )
