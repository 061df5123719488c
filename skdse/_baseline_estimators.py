"""scikit-learn estimators over the paper's baselines (classic, matrix-entry, adjacency)."""

from __future__ import annotations

from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ._baselines import baseline_entropy, baseline_mi
from ._estimators import MutualInformationFit
from ._params import BASELINE, PARTITION, parameter_constraints
from ._partition import PartitionsReference
from ._validation import validate_estimator_X

_MEASURE_DOC = """    measure : {"classic", "matrix_entry", "adjacency"}, default="classic"
        ``"classic"``: Shannon entropy of the counts of distinct binned rows;
        ``"matrix_entry"``: entropy of the diffusion matrix's entries;
        ``"adjacency"``: entropy of the absolute eigenvalues of an adjacency matrix.
    n_bins_per_dim : int, default=2
        Bins per feature (classic).
    kind : {"gaussian", "normalized", "knn"}, default="gaussian"
        Adjacency matrix (adjacency); see :func:`adjacency_spectral_entropy`.
    bandwidth : float, "scale" or "median", default="scale"
        Kernel width (matrix_entry, adjacency gaussian/normalized).
    n_neighbors : int, default=10
        Neighbours of the binarised kNN adjacency.
    base : float, default=2
    max_samples : int or None, default=10000
"""


class BaselineEntropy(BaseEstimator):
    __doc__ = (
        """The paper's baseline entropies as a scikit-learn estimator.

    ``fit`` computes the entropy of X (``entropy_``) and resolves the kernel
    width on it; ``score`` computes it for other data with the same width.

    Parameters
    ----------
"""
        + _MEASURE_DOC
        + """    random_state : int, RandomState instance or None, default=None

    Attributes
    ----------
    entropy_ : float
    bandwidth_ : float or None
        The resolved sigma (None where no kernel is used).
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from skdse.baselines import BaselineEntropy
    >>> X = np.random.default_rng(0).normal(size=(64, 200))
    >>> BaselineEntropy("classic").fit(X).entropy_  # saturated at log2(64)
    6.0
    """
    )

    def __init__(
        self,
        measure=BASELINE.measure,
        *,
        n_bins_per_dim=BASELINE.n_bins_per_dim,
        kind=BASELINE.kind,
        bandwidth=BASELINE.bandwidth,
        n_neighbors=BASELINE.n_neighbors,
        base=BASELINE.base,
        max_samples=BASELINE.max_samples,
        random_state=BASELINE.random_state,
    ):
        self.measure = measure
        self.n_bins_per_dim = n_bins_per_dim
        self.kind = kind
        self.bandwidth = bandwidth
        self.n_neighbors = n_neighbors
        self.base = base
        self.max_samples = max_samples
        self.random_state = random_state

    _parameter_constraints: dict = parameter_constraints(__init__, BASELINE)

    def _entropy(self, X, bandwidth):
        return baseline_entropy(
            X,
            measure=self.measure,
            bandwidth=bandwidth,
            n_bins_per_dim=self.n_bins_per_dim,
            kind=self.kind,
            n_neighbors=self.n_neighbors,
            base=self.base,
            max_samples=self.max_samples,
            random_state=self.random_state,
        )

    def fit(self, X, y=None):
        """Compute the entropy of X. Returns self."""
        self._validate_params()
        X = validate_estimator_X(self, X, reset=True)
        self.entropy_, self.bandwidth_ = self._entropy(X, self.bandwidth)
        return self

    def score(self, X, y=None):
        """The entropy of X with the fitted kernel width."""
        check_is_fitted(self)
        self._validate_params()  # set_params may have changed them since fit
        X = validate_estimator_X(self, X, reset=False)
        bandwidth = self.bandwidth if self.bandwidth_ is None else self.bandwidth_
        return self._entropy(X, bandwidth)[0]


class BaselineMI(PartitionsReference, MutualInformationFit, BaseEstimator):
    __doc__ = (
        """Mutual information from the paper's baseline entropies, as DSMI builds it.

    The same partition of y (labels, bins or clusters) and the same
    matched-subset estimator as :class:`DiffusionSpectralMI`.

    Parameters
    ----------
"""
        + _MEASURE_DOC
        + """    n_repeats : int, default=5
    y_type, n_bins, n_clusters, clusterer
        As in :class:`DiffusionSpectralMI`.
    random_state : int, RandomState instance or None, default=None
    n_jobs : int or None, default=None

    Attributes
    ----------
    mutual_information_, entropy_, conditional_entropy_ : float
    mutual_information_std_ : float
        Standard error of ``mutual_information_`` over the random subsets
        (as :class:`skdse.DiffusionSpectralMI`'s; NaN when ``n_repeats=1``).
    partition_, groups_, group_sizes_ : ndarray
    group_conditional_entropies_, group_marginal_entropies_, group_marginal_stds_ : ndarray
    bandwidth_ : float or None
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from skdse.baselines import BaselineMI
    >>> y = np.repeat([0, 1], 30)
    >>> X = np.c_[y, np.random.default_rng(0).normal(size=60)]
    >>> bool(BaselineMI("classic", random_state=0).fit(X, y).mutual_information_ > 0.5)
    True
    """
    )

    def __init__(
        self,
        measure=BASELINE.measure,
        *,
        n_bins_per_dim=BASELINE.n_bins_per_dim,
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
    ):
        self.measure = measure
        self.n_bins_per_dim = n_bins_per_dim
        self.kind = kind
        self.bandwidth = bandwidth
        self.n_neighbors = n_neighbors
        self.base = base
        self.n_repeats = n_repeats
        self.max_samples = max_samples
        self.y_type = y_type
        self.n_bins = n_bins
        self.n_clusters = n_clusters
        self.clusterer = clusterer
        self.random_state = random_state
        self.n_jobs = n_jobs

    _parameter_constraints: dict = parameter_constraints(__init__, BASELINE, PARTITION)

    def _compute(self, X, y, bandwidth):
        labels = self._partition(X, y)
        res = baseline_mi(
            X,
            labels,
            measure=self.measure,
            bandwidth=bandwidth,
            n_bins_per_dim=self.n_bins_per_dim,
            kind=self.kind,
            n_neighbors=self.n_neighbors,
            base=self.base,
            max_samples=self.max_samples,
            n_repeats=self.n_repeats,
            random_state=self.random_state,
            n_jobs=self.n_jobs,
        )
        return labels, res

    def fit(self, X, y):
        """Compute the mutual information of X with y. Returns self."""
        self._validate_params()
        X = validate_estimator_X(self, X, reset=True)
        self.partition_, res = self._compute(X, y, self.bandwidth)
        self._store_result(res)
        return self

    def score(self, X, y):
        """The mutual information of (X, y) with the fitted kernel width."""
        check_is_fitted(self)
        self._validate_params()  # set_params may have changed them since fit
        X = validate_estimator_X(self, X, reset=False)
        bandwidth = self.bandwidth if self.bandwidth_ is None else self.bandwidth_
        return self._compute(X, y, bandwidth)[1].mutual_information

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags
