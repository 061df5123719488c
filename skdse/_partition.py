"""Partitioning a reference Y into groups for the mutual-information measures."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from sklearn.base import clone
from sklearn.utils import check_array
from sklearn.utils.multiclass import type_of_target

from ._engine.backend import to_numpy
from ._params import ENTROPY, PARTITION, validated
from ._validation import (
    check_discrete_y,
    check_no_missing,
    check_not_masked,
    names_unreal_data,
)


def as_host_y(y) -> np.ndarray:
    """The reference y as a NumPy array on the host: the one place y is converted.

    Lists, pandas Series and DataFrames, NumPy, CuPy and array-api-strict
    arrays and PyTorch tensors on any real device are copied (or viewed)
    with :func:`skdse._engine.backend.to_numpy`; labels and references are small,
    and partitioning happens on the host. ``None``, a scalar, a mapping, a
    masked array with masked entries, a tensor on PyTorch's ``meta`` device
    (which holds no data) and arrays of more than two dimensions are refused
    with an error naming y.

    Examples
    --------
    >>> import numpy as np
    >>> as_host_y([1, 2, 2]).tolist()
    [1, 2, 2]
    >>> as_host_y(np.ones((4, 3), dtype=np.float32)).shape
    (4, 3)
    """
    if y is None:
        raise ValueError("y is required: the mutual information is measured against y.")
    if isinstance(y, Mapping):
        raise TypeError(
            "y must be array-like of shape (n_samples,) or (n_samples, n_ref_features), "
            f"got a mapping ({type(y).__name__}); pass its values as an array."
        )
    given = type(y).__name__
    if not isinstance(y, np.ndarray):
        device = getattr(y, "device", None)
        if getattr(device, "type", None) == "meta":
            raise ValueError(
                f"y is a tensor on PyTorch's meta device (device={device}), which holds "
                "shape and dtype but no values; move y to the CPU or a GPU "
                "(y.to('cpu')) before passing it."
            )
        if type(y).__module__.split(".")[0] == "torch" and str(y.dtype) == "torch.bfloat16":
            y = y.float()  # NumPy has no bfloat16; float32 holds every bfloat16 value
        try:
            y = to_numpy(y)
        except (TypeError, ValueError, RuntimeError, NotImplementedError) as exc:
            where = f" on device {device}" if device is not None else ""
            raise ValueError(f"y ({given}{where}) cannot be read as a host array: {exc}") from exc
    y = check_not_masked(y, "y")
    if y.ndim == 0:
        kind = "mapping" if isinstance(y.item(), Mapping) else f"scalar {given}"
        raise ValueError(
            "y must be array-like of shape (n_samples,) or (n_samples, n_ref_features), "
            f"got a {kind}."
        )
    if y.ndim > 2:
        raise ValueError(
            f"y must be 1-D (labels or a scalar) or 2-D (a vector per sample), got shape "
            f"{y.shape}; flatten each sample first: y.reshape(len(y), -1)."
        )
    return y


def resolve_y_type(y: np.ndarray, y_type: str) -> str:
    """``"discrete"``, ``"scalar"`` or ``"vector"`` for the reference y (a valid ``y_type``)."""
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
    with np.errstate(invalid="ignore", over="ignore"):  # its integer cast of huge floats
        kind = type_of_target(flat, input_name="y")
    if kind in ("binary", "multiclass"):
        return "discrete"
    if kind == "continuous":
        return "scalar"
    raise ValueError(f"Unknown label type: {kind!r}.")


def bin_columns(X: np.ndarray, n_bins: int) -> np.ndarray:
    """Min-max scale each column and cut it into ``n_bins`` equal-width bins (1..n_bins).

    The rule of ``dse-dsmi``: ``np.digitize`` with left edges
    ``linspace(0, 1, n_bins + 1)[:-1]``, so each column's maximum falls in
    the last bin; a constant column is one bin. Scaled by halves, so the
    range of values near the float64 limit does not overflow.

    Examples
    --------
    >>> import numpy as np
    >>> bin_columns(np.array([[0.0], [0.05], [0.5], [1.0]]), 4).ravel().tolist()
    [1, 1, 3, 4]
    """
    half = np.asarray(X, dtype=np.float64) / 2.0
    lo, hi = half.min(axis=0), half.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    scaled = (half - lo) / span
    return np.digitize(scaled, np.linspace(0.0, 1.0, n_bins + 1)[:-1])


def bin_scalar(y: np.ndarray, n_bins: int) -> np.ndarray:
    """:func:`bin_columns` of a continuous scalar y (labels 1..n_bins)."""
    return bin_columns(np.asarray(y).reshape(-1, 1), n_bins)[:, 0]


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


@validated(PARTITION, ENTROPY, prefer_skip_nested_validation=False)  # a user's clusterer
def partition_reference(
    y,
    *,
    n_samples: int | None = PARTITION.n_samples,
    y_type: str = PARTITION.y_type,
    n_bins: int = PARTITION.n_bins,
    n_clusters: int = PARTITION.n_clusters,
    clusterer=PARTITION.clusterer,
    random_state=ENTROPY.random_state,
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
        A list, a NumPy, CuPy or array-api-strict array, a PyTorch tensor on
        any device with data (not ``meta``), or a pandas Series or DataFrame;
        it is copied to the host (labels are small). A scalar, a mapping or
        an array of more than two dimensions is refused.
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

    Raises
    ------
    InvalidParameterError
        A bad parameter (scikit-learn's, a ValueError and a TypeError), named.
    ValueError
        y missing, of the wrong length or shape, with NaN, or a tensor on
        PyTorch's meta device.
    TypeError
        A mapping as y.

    Examples
    --------
    >>> import numpy as np
    >>> from skdse import partition_reference
    >>> partition_reference(np.array([0.0, 0.05, 0.5, 1.0]), n_bins=4).tolist()
    [1, 1, 3, 4]
    >>> partition_reference(["a", "b", "a"]).tolist()
    ['a', 'b', 'a']
    """
    y = as_host_y(y)
    if n_samples is not None and y.shape[0] != n_samples:
        raise ValueError(
            f"X and y have inconsistent numbers of samples: X has {n_samples}, y has {y.shape[0]}."
        )
    kind = resolve_y_type(y, y_type)
    if kind == "discrete":
        return check_discrete_y(y, y.shape[0])
    if kind == "scalar":
        with names_unreal_data(y, "y"):  # y_type="continuous" on string labels
            y = check_array(
                y.reshape(-1, 1), dtype=np.float64, ensure_all_finite=True, input_name="y"
            )
        return bin_scalar(y[:, 0], n_bins)
    with names_unreal_data(y, "y"):
        Y = check_array(
            y, dtype=np.float64, ensure_all_finite=True, ensure_min_samples=2, input_name="y"
        )
    return cluster_vectors(Y, n_clusters=n_clusters, clusterer=clusterer, random_state=random_state)


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
            y_type=self.y_type,
            n_bins=self.n_bins,
            n_clusters=self.n_clusters,
            clusterer=self.clusterer,
            random_state=self.random_state,
        )
