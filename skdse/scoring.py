"""Scorers that measure DSE or DSMI of a fitted transformer's output.

Use them where the last step of a pipeline is a transformer (PCA, an
autoencoder's encoder, ...) and the embedding it produces is what should be
scored::

    cross_val_score(PCA(8), X, y, scoring=dsmi_scorer)

Each call resolves the bandwidth on the embedding it is given (there is no
fitted kernel to reuse), so pass a float ``bandwidth`` to the factories to
compare embeddings with one fixed kernel. ``affinity="knn"`` scores with the
sparse adaptive kNN kernel instead (``bandwidth`` is then ignored), and
``affinity="precomputed"`` takes the transformer's output as the affinity
itself: it must be the square affinity between the points scored (a
transformer that outputs one). Likewise ``t="auto"`` picks the knee of each
embedding's own entropy profile.

The DSMI scorers read y exactly as :class:`skdse.DiffusionSpectralMI` does
(through :func:`skdse.partition_reference`): class labels, a continuous
scalar (binned, so a regression target works) or a vector per sample
(clustered), from NumPy, pandas, CuPy or PyTorch on any device.
"""

from __future__ import annotations

import inspect

from ._engine.backend import releases_device_memory
from ._entropy import compute_dse
from ._mi import compute_dsmi
from ._params import (
    ENTROPY,
    PARTITION,
    SCORING,
    EntropyParams,
    PartitionParams,
    entropy_params,
    validated,
)
from ._partition import partition_reference
from ._validation import (
    check_not_masked,
    check_X,
    warn_if_degenerate,
    warn_if_deprecated_bandwidth,
)

__all__ = ["dse_scorer", "dsmi_scorer", "make_dse_scorer", "make_dsmi_scorer"]


class _EmbeddingScorer:
    """Callable ``scorer(estimator, X, y=None)`` for scikit-learn's ``scoring=``."""

    def __init__(
        self,
        measure: str,
        params: EntropyParams,
        *,
        random_state,
        n_jobs,
        greater_is_better,
        partition: PartitionParams | None = None,
        return_std: bool = False,
    ):
        self._measure = measure
        self._return_std = return_std
        self._params = params
        self._random_state = random_state
        self._n_jobs = n_jobs
        self._partition = partition
        self._sign = 1 if greater_is_better else -1

    def __repr__(self) -> str:
        factory = make_dse_scorer if self._measure == "dse" else make_dsmi_scorer
        defaults = {k: p.default for k, p in inspect.signature(factory).parameters.items()}
        values = {
            **vars(self._params),
            **(vars(self._partition) if self._partition is not None else {}),
            "random_state": self._random_state,
            "n_jobs": self._n_jobs,
            "greater_is_better": self._sign > 0,
            "return_std": self._return_std,
        }
        args = ", ".join(
            f"{k}={values[k]!r}" for k, default in defaults.items() if values[k] != default
        )
        return f"make_{self._measure}_scorer({args})"

    def __call__(self, estimator, X, y=None) -> float | dict[str, float]:
        res = self._score(estimator, X, y)
        if self._measure == "dse":
            return self._sign * res.entropy
        if self._return_std:  # scikit-learn's multi-metric scoring: one score per key
            return {
                "dsmi": self._sign * res.mutual_information,
                "dsmi_std": res.mutual_information_std,
            }
        return self._sign * res.mutual_information

    @releases_device_memory
    def _score(self, estimator, X, y):
        if not hasattr(estimator, "transform"):
            raise TypeError(
                f"{self._measure}_scorer scores the embedding a fitted transformer produces, "
                f"but {type(estimator).__name__} has no transform method. For an estimator "
                "that is a DSE/DSMI measure, use its own score (scoring=None)."
            )
        # the transformer would use masked values: refuse them as every entry point does
        X = check_not_masked(X, "X")
        Z = check_X(
            estimator.transform(X),
            input_name="the transformed X",
            backend=self._params.backend,
            affinity=self._params.affinity,
        )
        if self._measure == "dse":
            res = compute_dse(Z, self._params, random_state=self._random_state)
            warn_if_degenerate(res.diagnostics, res.bandwidth)
            return res
        # the estimators' path: the same partition of y (labels, bins or clusters)
        p = self._partition
        labels = partition_reference(
            y,
            n_samples=Z.shape[0],
            y_type=p.y_type,
            n_bins=p.n_bins,
            n_clusters=p.n_clusters,
            clusterer=p.clusterer,
            random_state=self._random_state,
        )
        res = compute_dsmi(
            Z, labels, self._params, random_state=self._random_state, n_jobs=self._n_jobs
        )
        warn_if_degenerate(res.diagnostics, res.bandwidth)
        return res


@validated(ENTROPY, SCORING)
def make_dse_scorer(
    *,
    affinity=ENTROPY.affinity,
    bandwidth=ENTROPY.bandwidth,
    t=ENTROPY.t,
    base=ENTROPY.base,
    order=ENTROPY.order,
    max_samples=ENTROPY.max_samples,
    n_subsamples=ENTROPY.n_subsamples,
    solver=ENTROPY.solver,
    operator=ENTROPY.operator,
    n_neighbors=ENTROPY.n_neighbors,
    neighbors=ENTROPY.neighbors,
    n_lanczos_steps=ENTROPY.n_lanczos_steps,
    n_probes=ENTROPY.n_probes,
    n_deflate=ENTROPY.n_deflate,
    backend=ENTROPY.backend,
    dtype=ENTROPY.dtype,
    random_state=ENTROPY.random_state,
    n_jobs=ENTROPY.n_jobs,
    greater_is_better: bool = SCORING.greater_is_better,
):
    """Make a scorer that returns the DSE of ``estimator.transform(X)``.

    Every parameter is validated here, so a wrong value fails before any
    fitting.

    Parameters
    ----------
    affinity, bandwidth, t, base, order, max_samples, n_subsamples, solver, operator, \
n_neighbors, neighbors, n_lanczos_steps, n_probes, n_deflate, backend, dtype, random_state
        As in :func:`skdse.diffusion_spectral_entropy`. ``affinity`` is
        ``"gaussian"``, ``"knn"`` or ``"precomputed"``: the transformer's
        output is then the affinity itself, square between the points scored.
    n_jobs : int or None, default=None
        CPUs of each call's subsample workers and matrix-free products, as in
        :func:`skdse.diffusion_spectral_entropy`.
    greater_is_better : bool, default=True
        As in :func:`sklearn.metrics.make_scorer`: True returns the DSE, so a
        search picks the most spread-out embedding; False returns its
        negative, so a search picks the most compressed one.

    Returns
    -------
    callable
        ``scorer(estimator, X, y=None) -> float``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.decomposition import PCA
    >>> from sklearn.model_selection import cross_val_score
    >>> from skdse.scoring import make_dse_scorer
    >>> X = np.random.default_rng(0).normal(size=(120, 6))
    >>> scores = cross_val_score(PCA(3), X, scoring=make_dse_scorer(t=2), cv=3)
    >>> scores.shape
    (3,)
    >>> make_dse_scorer(t=2, greater_is_better=False)
    make_dse_scorer(t=2.0, greater_is_better=False)
    """
    warn_if_deprecated_bandwidth(bandwidth)
    params = entropy_params(
        affinity=affinity,
        bandwidth=bandwidth,
        t=t,
        base=base,
        order=order,
        max_samples=max_samples,
        n_subsamples=n_subsamples,
        solver=solver,
        operator=operator,
        n_neighbors=n_neighbors,
        neighbors=neighbors,
        n_lanczos_steps=n_lanczos_steps,
        n_probes=n_probes,
        n_deflate=n_deflate,
        backend=backend,
        dtype=dtype,
        n_jobs=n_jobs,
    )
    return _EmbeddingScorer(
        "dse",
        params,
        random_state=random_state,
        n_jobs=n_jobs,
        greater_is_better=greater_is_better,
    )


@validated(ENTROPY, PARTITION, SCORING)
def make_dsmi_scorer(
    *,
    affinity=ENTROPY.affinity,
    bandwidth=ENTROPY.bandwidth,
    t=ENTROPY.t,
    base=ENTROPY.base,
    order=ENTROPY.order,
    n_repeats=ENTROPY.n_repeats,
    max_samples=ENTROPY.max_samples,
    solver=ENTROPY.solver,
    operator=ENTROPY.operator,
    n_neighbors=ENTROPY.n_neighbors,
    neighbors=ENTROPY.neighbors,
    n_lanczos_steps=ENTROPY.n_lanczos_steps,
    n_probes=ENTROPY.n_probes,
    n_deflate=ENTROPY.n_deflate,
    backend=ENTROPY.backend,
    dtype=ENTROPY.dtype,
    y_type=PARTITION.y_type,
    n_bins=PARTITION.n_bins,
    n_clusters=PARTITION.n_clusters,
    clusterer=PARTITION.clusterer,
    random_state=ENTROPY.random_state,
    n_jobs=ENTROPY.n_jobs,
    greater_is_better: bool = SCORING.greater_is_better,
    return_std: bool = ENTROPY.return_std,
):
    """Make a scorer that returns DSMI between ``estimator.transform(X)`` and y.

    y is read as :class:`skdse.DiffusionSpectralMI` reads it (one code path,
    :func:`skdse.partition_reference`): class labels as they are, a
    continuous scalar such as a regression target binned into ``n_bins``
    groups, a vector per sample clustered into ``n_clusters``; from a list,
    NumPy, pandas, CuPy or a PyTorch tensor on any device. Every parameter
    is validated here, so a wrong value fails before any fitting.

    Parameters
    ----------
    affinity, bandwidth, t, base, order, n_repeats, max_samples, solver, operator, \
n_neighbors, neighbors, n_lanczos_steps, n_probes, n_deflate, backend, dtype, random_state, n_jobs
        As in :func:`skdse.diffusion_spectral_mutual_information`. ``affinity`` is
        ``"gaussian"``, ``"knn"`` or ``"precomputed"``: the transformer's
        output is then the affinity itself, square between the points scored.
    y_type : {"auto", "discrete", "continuous"}, default="auto"
        How to read y; ``"auto"`` uses scikit-learn's ``type_of_target``.
    n_bins : int, default=10
        Equal-width bins of a min-max scaled continuous scalar y (the bins
        are those of the y each call is given, e.g. a test fold).
    n_clusters : int, default=10
        Clusters of the default spectral clustering of a vector y.
    clusterer : scikit-learn clusterer or None, default=None
        Replaces the default spectral clustering of a vector y.
    greater_is_better : bool, default=True
        As in :func:`sklearn.metrics.make_scorer`: True returns DSMI, so a
        search picks the embedding that holds most information about y;
        False returns its negative, so a search picks the one that holds
        least (e.g. about a nuisance variable).
    return_std : bool, default=False
        Score two metrics at once, as scikit-learn's multi-metric scoring
        takes from a callable that returns a dict: ``{"dsmi": DSMI,
        "dsmi_std": its standard error}`` (see
        :func:`skdse.diffusion_spectral_mutual_information`; NaN when
        ``n_repeats=1``). A search then needs ``refit="dsmi"``, and
        ``cv_results_`` has ``mean_test_dsmi`` and ``mean_test_dsmi_std``.
        ``dsmi_std`` is each fold's error from the estimator's randomness
        alone; the spread over folds, ``std_test_dsmi``, also holds the
        data's variability. ``greater_is_better=False`` negates ``"dsmi"``
        only. Use :func:`~sklearn.model_selection.cross_validate` (not
        ``cross_val_score``, which takes one metric).

    Returns
    -------
    callable
        ``scorer(estimator, X, y) -> float``, or ``-> dict`` with ``return_std=True``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_diabetes, load_iris
    >>> from sklearn.decomposition import PCA
    >>> from sklearn.model_selection import StratifiedKFold, cross_val_score
    >>> from skdse.scoring import make_dsmi_scorer
    >>> X, y = load_iris(return_X_y=True)
    >>> scorer = make_dsmi_scorer(random_state=0)
    >>> scores = cross_val_score(PCA(2), X, y, scoring=scorer, cv=StratifiedKFold(3))
    >>> bool((scores > 0).all())
    True

    A regression target is binned:

    >>> X, y = load_diabetes(return_X_y=True)
    >>> scorer = make_dsmi_scorer(n_bins=5, random_state=0)
    >>> bool(np.isfinite(cross_val_score(PCA(3), X, y, scoring=scorer, cv=3)).all())
    True
    >>> scorer
    make_dsmi_scorer(n_bins=5, random_state=0)

    DSMI and its standard error as two metrics of a search:

    >>> from sklearn.model_selection import GridSearchCV
    >>> X, y = load_iris(return_X_y=True)
    >>> search = GridSearchCV(
    ...     PCA(),
    ...     {"n_components": [1, 2]},
    ...     scoring=make_dsmi_scorer(return_std=True, random_state=0),
    ...     refit="dsmi",
    ...     cv=StratifiedKFold(3),
    ... ).fit(X, y)
    >>> mi = search.cv_results_["mean_test_dsmi"]
    >>> std = search.cv_results_["mean_test_dsmi_std"]
    >>> bool((mi > 0).all() and (std > 0).all() and (std < mi).all())
    True
    """
    warn_if_deprecated_bandwidth(bandwidth)
    params = entropy_params(
        affinity=affinity,
        bandwidth=bandwidth,
        t=t,
        base=base,
        order=order,
        n_repeats=n_repeats,
        max_samples=max_samples,
        solver=solver,
        operator=operator,
        n_neighbors=n_neighbors,
        neighbors=neighbors,
        n_lanczos_steps=n_lanczos_steps,
        n_probes=n_probes,
        n_deflate=n_deflate,
        backend=backend,
        dtype=dtype,
        n_jobs=n_jobs,
    )
    partition = PartitionParams(
        y_type=y_type, n_bins=int(n_bins), n_clusters=int(n_clusters), clusterer=clusterer
    )
    return _EmbeddingScorer(
        "dsmi",
        params,
        random_state=random_state,
        n_jobs=n_jobs,
        greater_is_better=greater_is_better,
        partition=partition,
        return_std=return_std,
    )


dse_scorer = make_dse_scorer()
"""DSE of ``estimator.transform(X)`` with default parameters: ``dse_scorer(estimator, X, y=None)``.

Examples
--------
>>> import numpy as np
>>> from sklearn.decomposition import PCA
>>> from skdse.scoring import dse_scorer
>>> X = np.random.default_rng(0).normal(size=(100, 5))
>>> bool(0 < dse_scorer(PCA(2).fit(X), X) < np.log2(100))
True
"""

dsmi_scorer = make_dsmi_scorer()
"""DSMI of ``estimator.transform(X)`` and y, default parameters: ``dsmi_scorer(est, X, y)``.

Examples
--------
>>> from sklearn.datasets import load_iris
>>> from sklearn.decomposition import PCA
>>> from sklearn.model_selection import cross_val_score
>>> from skdse.scoring import dsmi_scorer
>>> X, y = load_iris(return_X_y=True)
>>> cross_val_score(PCA(2), X, y, scoring=dsmi_scorer, cv=3).shape
(3,)
"""
