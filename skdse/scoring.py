"""Scorers that measure DSE or DSMI of a fitted transformer's output.

Use them where the last step of a pipeline is a transformer (PCA, an
autoencoder's encoder, ...) and the embedding it produces is what should be
scored::

    cross_val_score(PCA(8), X, y, scoring=dsmi_scorer)

Each call resolves the bandwidth on the embedding it is given (there is no
fitted kernel to reuse), so pass a float ``bandwidth`` to the factories to
compare embeddings with one fixed kernel.
"""

from __future__ import annotations

from ._backend import releases_device_memory
from ._entropy import compute_dse
from ._mi import compute_dsmi
from ._validation import check_discrete_y, check_entropy_params, check_X, entropy_params_from

__all__ = ["dse_scorer", "dsmi_scorer", "make_dse_scorer", "make_dsmi_scorer"]


class _EmbeddingScorer:
    """Callable ``scorer(estimator, X, y=None)`` for scikit-learn's ``scoring=``."""

    def __init__(self, measure: str, params: dict, random_state, n_jobs=None):
        self._measure = measure
        self._params = params
        self._random_state = random_state
        self._n_jobs = n_jobs

    def __repr__(self) -> str:
        defaults = check_entropy_params()
        changed = {k: v for k, v in vars(self._params).items() if v != getattr(defaults, k)}
        if self._measure == "dse":
            changed.pop("n_repeats", None)
        else:
            changed.pop("n_subsamples", None)
        args = ", ".join(f"{k}={v!r}" for k, v in changed.items())
        if self._random_state is not None:
            args += (", " if args else "") + f"random_state={self._random_state!r}"
        return f"make_{self._measure}_scorer({args})"

    @releases_device_memory
    def __call__(self, estimator, X, y=None) -> float:
        if not hasattr(estimator, "transform"):
            raise TypeError(
                f"{self._measure}_scorer scores the embedding a fitted transformer produces, "
                f"but {type(estimator).__name__} has no transform method. For an estimator "
                "that is a DSE/DSMI measure, use its own score (scoring=None)."
            )
        Z = check_X(
            estimator.transform(X),
            input_name="the transformed X",
            backend=self._params.backend,
            dtype=self._params.dtype,
        )
        if self._measure == "dse":
            return compute_dse(Z, self._params, random_state=self._random_state).entropy
        y = check_discrete_y(y, Z.shape[0])
        return compute_dsmi(
            Z, y, self._params, random_state=self._random_state, n_jobs=self._n_jobs
        ).mutual_information


def make_dse_scorer(
    *,
    bandwidth="scale",
    t=1,
    base=2,
    max_samples=10000,
    n_subsamples=1,
    solver="auto",
    operator="auto",
    n_neighbors=15,
    n_lanczos_steps=30,
    n_probes=32,
    n_deflate=64,
    backend="auto",
    dtype="float64",
    random_state=None,
    n_jobs=None,
):
    """Make a scorer that returns the DSE of ``estimator.transform(X)``.

    Parameters are those of :func:`skdse.diffusion_spectral_entropy`
    (``n_jobs``: CPUs of each call's subsample workers and matrix-free
    products); they are validated here, so a wrong value fails before any
    fitting.

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
    """
    params = entropy_params_from(locals())
    return _EmbeddingScorer("dse", params, random_state)


def make_dsmi_scorer(
    *,
    bandwidth="scale",
    t=1,
    base=2,
    n_repeats=5,
    max_samples=10000,
    solver="auto",
    operator="auto",
    n_neighbors=15,
    n_lanczos_steps=30,
    n_probes=32,
    n_deflate=64,
    backend="auto",
    dtype="float64",
    random_state=None,
    n_jobs=None,
):
    """Make a scorer that returns DSMI between ``estimator.transform(X)`` and y.

    Parameters are those of :func:`skdse.diffusion_spectral_mutual_information`.

    Returns
    -------
    callable
        ``scorer(estimator, X, y) -> float``.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.decomposition import PCA
    >>> from sklearn.model_selection import StratifiedKFold, cross_val_score
    >>> from skdse.scoring import make_dsmi_scorer
    >>> X, y = load_iris(return_X_y=True)
    >>> scorer = make_dsmi_scorer(random_state=0)
    >>> scores = cross_val_score(PCA(2), X, y, scoring=scorer, cv=StratifiedKFold(3))
    >>> bool((scores > 0).all())
    True
    """
    params = entropy_params_from(locals())
    return _EmbeddingScorer("dsmi", params, random_state, n_jobs)


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
