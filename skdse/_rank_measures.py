"""The measures users compare DSE with: RankMe's effective rank and the Vendi score.

- :func:`effective_rank` (Roy & Vetterli 2007; RankMe, Garrido et al. 2023):
  ``exp`` of the Shannon entropy of the singular values of the uncentred
  embedding matrix, normalised to sum 1;
- :func:`vendi_score` (Friedman & Dieng 2023; orders q, Pasarkar & Dieng
  2024): ``exp`` of the Rényi entropy of order q of the eigenvalues of
  ``K / N``, K the Gaussian kernel of skdse (``K_ii = 1``) at a resolved
  bandwidth;

and the estimators :class:`EffectiveRank` and :class:`VendiScore` over them.
The functions compute where X lives (NumPy, CuPy, PyTorch, any array-API
array) and return Python floats; the estimators take host data, as the
other baselines do.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._engine.backend import device_memory_bytes, namespace, to_numpy
from ._engine.kernels import gaussian_affinity, resolve_bandwidth
from ._engine.placement import placement_of
from ._engine.resources import check_dense_fits
from ._engine.spectrum import exact_eigenvalues, spectral_entropy
from ._params import RANK, parameter_constraints, validated
from ._validation import check_X, validate_estimator_X

if TYPE_CHECKING:
    from numpy.typing import ArrayLike


def _check_data(X, flatten: bool = False):
    """Validated X in memory where it lives (a dask array is gathered: these measures
    are dense); ``flatten`` reshapes an N-D X to (n_samples, -1)."""
    return check_X(placement_of(X).in_memory(X), flatten=flatten)


def singular_values(X) -> tuple[np.ndarray, float]:
    """All ``min(N, D)`` singular values of validated X, descending, on the host: ``(s, c)``.

    They are ``c * s``: X is divided by its largest absolute entry ``c``
    first (the normalised spectrum does not change), so neither X near the
    float64 limits nor its squares overflow or underflow in the SVD, and
    ``s`` sums to a finite number.
    """
    xp = namespace(X)
    top = xp.max(xp.abs(X))
    if float(top) == 0.0:
        return np.zeros(min(X.shape)), 0.0
    s = to_numpy(xp.linalg.svdvals(X / top)).astype(np.float64)
    return np.sort(s)[::-1].copy(), float(top)


def effective_rank_of(s: np.ndarray, eps: float = 0.0) -> float:
    """RankMe of the singular values ``s``: ``exp(-sum p log p)``, ``p = s / sum(s) + eps``."""
    total = float(np.sum(s))
    if total == 0.0:
        return 0.0
    eps = float(eps)
    if eps == 0.0:
        return math.exp(spectral_entropy(s, 1.0, math.e))
    p = s / total + eps
    return math.exp(-float(np.sum(p * np.log(p))))


@validated(RANK)
def effective_rank(X: ArrayLike, *, eps: float = RANK.eps, flatten: bool = RANK.flatten) -> float:
    """Effective rank of an embedding matrix, as RankMe defines it.

    ``RankMe(X) = exp(-sum_k p_k log p_k)`` with ``p_k = s_k / sum_j s_j``,
    ``s_k`` the ``min(N, D)`` singular values of X as given (not centred:
    RankMe measures the embeddings themselves, so a constant offset adds a
    direction). It is Roy & Vetterli's effective rank; RankMe (Garrido et
    al. 2023, eq. 1) adds a small ``eps`` to every ``p_k`` (1e-7 in the
    paper and its code, against float32 rounding in ``log 0``). Here
    ``0 log 0 = 0`` exactly and ``eps`` defaults to 0, which keeps the exact
    bounds and invariances; pass ``eps=1e-7`` to reproduce RankMe's numbers
    (it moves the entropy by about ``eps * (log(1 / eps) + 1)`` per singular
    value, 1.7e-6 each: 0.3 % of the rank at 2048 dimensions).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Embeddings (at least 2 rows); NumPy, CuPy, PyTorch or any array-API
        array, whose SVD runs on its device.
    eps : float in [0, 1), default=0.0
        Added to each normalised singular value before the entropy, as RankMe
        does.
    flatten : bool, default=False
        Reshape an N-D X (n_samples, d1, d2, ...) to (n_samples, -1) where it
        lives, as :func:`skdse.diffusion_spectral_entropy` does.

    Returns
    -------
    float
        In ``[1, rank(X)]`` for ``eps=0`` (``1 <= RankMe <= min(N, D)``):
        ``k`` for k orthogonal directions of equal norm, 1 for a rank-one X;
        0.0 for an all-zero X (rank 0). Invariant to scaling X, to
        orthogonal maps on either side (rotating the features, permuting the
        rows) and to transposing it; not to translation.

    See Also
    --------
    EffectiveRank : The estimator.
    vendi_score : The kernel counterpart, on the similarities of the rows.

    References
    ----------
    Q. Garrido, R. Balestriero, L. Najman, Y. LeCun. RankMe: Assessing the
    downstream performance of pretrained self-supervised representations by
    their rank. ICML 2023.

    O. Roy, M. Vetterli. The effective rank: a measure of effective
    dimensionality. EUSIPCO 2007.

    Examples
    --------
    >>> import numpy as np
    >>> from skdse.baselines import effective_rank
    >>> round(effective_rank(np.eye(5)[:, :3]), 12)  # three orthonormal directions
    3.0
    >>> X = np.random.default_rng(0).normal(size=(500, 8))
    >>> bool(7.5 < effective_rank(X) <= 8)  # close to full rank
    True
    >>> round(effective_rank(np.ones((10, 4))), 12)  # every row the same: rank one
    1.0
    """
    return effective_rank_of(singular_values(_check_data(X, flatten))[0], eps)


def vendi_of(X, sigma: float, order: float) -> float:
    """Vendi score of validated X at bandwidth ``sigma``: ``exp(H_q)`` of ``eig(K) / N``."""
    xp = namespace(X)
    n = X.shape[0]
    check_dense_fits(n, available=device_memory_bytes(xp, X))
    K, _ = gaussian_affinity(X, sigma)
    w = exact_eigenvalues(K)  # they sum to trace(K) = N; rounding's negatives count as 0
    # vendi-score's convention: rounding's negative eigenvalues count as 0
    return math.exp(spectral_entropy(np.clip(w / n, 0.0, None), 1.0, math.e, float(order)))


def _vendi(X, bandwidth, order, random_state) -> tuple[float, float]:
    """Vendi score and resolved sigma of validated X."""
    sigma = resolve_bandwidth(X, bandwidth, random_state=check_random_state(random_state))
    return vendi_of(X, sigma, order), sigma


@validated(RANK)
def vendi_score(
    X: ArrayLike,
    *,
    bandwidth: float | str = RANK.bandwidth,
    order: float = RANK.order,
    random_state: int | np.random.RandomState | None = RANK.random_state,
    flatten: bool = RANK.flatten,
) -> float:
    """Vendi score of the Gaussian kernel: the effective number of distinct points.

    ``VS_q = exp(H_q(lambda))``, ``lambda`` the eigenvalues of ``K / N`` (they
    sum to 1) with ``K_ij = exp(-||x_i - x_j||^2 / (2 sigma^2))`` the
    Gaussian kernel DSE uses, before its normalisation (``K_ii = 1``), and
    ``H_q`` the Rényi entropy of order q: ``log(sum lambda^q) / (1 - q)``,
    Shannon's ``-sum lambda log lambda`` at ``q = 1`` (Friedman & Dieng
    2023) and ``-log max lambda`` at ``q = inf`` (Pasarkar & Dieng 2024).
    It is ``vendi_score.vendi.score_K(K, q)`` of the ``vendi-score``
    package on this kernel (negative eigenvalues, from rounding, count as
    0). Exact: one dense N x N eigendecomposition, on X's device.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        At least 2 rows; NumPy, CuPy, PyTorch or any array-API array.
    bandwidth : float, "scale" or "median", default="scale"
        The kernel's sigma, resolved as DSE resolves it
        (:func:`~skdse.diffusion_spectral_entropy`): ``"scale"`` sets
        ``2 sigma^2`` to the total variance of X, ``"median"`` sigma to the
        median pairwise distance (seeded subsample above 2000 rows).
    order : float > 0, default=1.0
        Rényi order q; ``numpy.inf`` allowed. The score is non-increasing in
        q; q < 1 weighs rare directions more, q > 1 the dominant ones. For
        q < 1 it is ill-conditioned in the near-zero eigenvalues, which a
        wide kernel has by the hundred: their rounding, about
        ``N * eps`` each, moves the score by up to about ``N (N eps)^q``
        relative (measured at N = 40, sigma = 3 times the data's scale:
        1e-9 at q = 0.5, 2e-3 at q = 0.1).
    random_state : int, RandomState instance or None, default=None
        Seeds the subsample of ``bandwidth="median"``.
    flatten : bool, default=False
        Reshape an N-D X (n_samples, d1, d2, ...) to (n_samples, -1) where it
        lives, as :func:`skdse.diffusion_spectral_entropy` does.

    Returns
    -------
    float
        In ``[1, N]``: 1 when every row is the same (or sigma is very large),
        N when the rows are far apart at the scale sigma.

    See Also
    --------
    VendiScore : The estimator, whose fitted bandwidth scores other data.
    effective_rank : The linear counterpart, on the singular values of X.

    References
    ----------
    D. Friedman, A. B. Dieng. The Vendi Score: A diversity evaluation metric
    for machine learning. TMLR 2023.

    A. P. Pasarkar, A. B. Dieng. Cousins of the Vendi Score: a family of
    similarity-based diversity metrics for science and machine learning.
    AISTATS 2024.

    Examples
    --------
    >>> import numpy as np
    >>> from skdse.baselines import vendi_score
    >>> round(vendi_score(np.zeros((6, 2))), 12)  # one distinct point
    1.0
    >>> X = np.repeat(np.eye(3), 2, axis=0)  # 3 points, each twice
    >>> round(vendi_score(X, bandwidth=1e-3), 12)  # far apart at this sigma
    3.0
    >>> X = np.random.default_rng(0).normal(size=(100, 2))
    >>> scores = [vendi_score(X, order=q) for q in (0.5, 1, 2, np.inf)]
    >>> bool(np.all(np.diff(scores) <= 0))  # non-increasing in the order
    True
    """
    return _vendi(_check_data(X, flatten), bandwidth, order, random_state)[0]


class EffectiveRank(BaseEstimator):
    """RankMe's effective rank of embeddings as a scikit-learn estimator.

    ``fit`` computes :func:`effective_rank` of X; ``score`` that of other
    data (nothing is learnt: the estimator puts the measure in pipelines,
    cross-validation and model selection beside DSE).

    Parameters
    ----------
    eps : float in [0, 1), default=0.0
        Added to each normalised singular value, as RankMe does (1e-7 in
        its paper); see :func:`effective_rank`.

    Attributes
    ----------
    effective_rank_ : float
        The effective rank of the training data.
    singular_values_ : ndarray of shape (min(n_samples, n_features),)
        Singular values of the training data, descending.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``, when X has string column names.

    See Also
    --------
    effective_rank : The function.
    VendiScore : The kernel counterpart.

    Examples
    --------
    >>> import numpy as np
    >>> from skdse.baselines import EffectiveRank
    >>> X = np.random.default_rng(0).normal(size=(200, 3)) * [1.0, 1.0, 1e-9]
    >>> est = EffectiveRank().fit(X)  # the third direction is negligible
    >>> round(est.effective_rank_, 2), est.singular_values_.shape
    (2.0, (3,))
    >>> round(est.score(np.eye(3)), 12)
    3.0
    """

    def __init__(self, *, eps: float = RANK.eps):
        self.eps = eps

    _parameter_constraints: dict = parameter_constraints(__init__, RANK)

    def fit(self, X: ArrayLike, y: None = None) -> EffectiveRank:
        """Compute the effective rank of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings.
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : EffectiveRank
            The fitted estimator.
        """
        self._validate_params()
        X = validate_estimator_X(self, X, reset=True)
        s, scale = singular_values(X)
        self.effective_rank_ = effective_rank_of(s, self.eps)
        with np.errstate(over="ignore"):  # inf only for X near the float64 limit
            self.singular_values_ = s * scale
        return self

    def score(self, X: ArrayLike, y: None = None) -> float:
        """The effective rank of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings with the features seen in ``fit``.
        y : None
            Ignored.

        Returns
        -------
        float
            The effective rank of X (:func:`effective_rank`).
        """
        check_is_fitted(self)
        self._validate_params()
        X = validate_estimator_X(self, X, reset=False)
        return effective_rank_of(singular_values(X)[0], self.eps)


class VendiScore(BaseEstimator):
    """The Vendi score of the Gaussian kernel as a scikit-learn estimator.

    ``fit`` resolves the bandwidth on the training data, as
    :class:`~skdse.DiffusionSpectralEntropy` does, and computes
    :func:`vendi_score`; ``score`` computes it for other data with that
    bandwidth, so held-out folds are scored with the same kernel.

    Parameters
    ----------
    bandwidth : float, "scale" or "median", default="scale"
        The kernel's sigma; see :func:`vendi_score`.
    order : float > 0, default=1.0
        Rényi order q (``numpy.inf`` allowed).
    random_state : int, RandomState instance or None, default=None
        Seeds the subsample of ``bandwidth="median"``.

    Attributes
    ----------
    bandwidth_ : float
        The resolved sigma, reused by :meth:`score`.
    vendi_score_ : float
        The Vendi score of the training data.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``, when X has string column names.

    See Also
    --------
    vendi_score : The function.
    EffectiveRank : The linear counterpart.

    Examples
    --------
    >>> import numpy as np
    >>> from skdse.baselines import VendiScore
    >>> X = np.random.default_rng(0).normal(size=(100, 2))
    >>> est = VendiScore(order=2).fit(X)
    >>> bool(1 < est.vendi_score_ < 100), round(est.score(X), 9) == round(est.vendi_score_, 9)
    (True, True)
    >>> bool(est.score(X / 100) < est.vendi_score_)  # fitted sigma: shrunk data, fewer points
    True
    """

    def __init__(
        self,
        *,
        bandwidth: float | str = RANK.bandwidth,
        order: float = RANK.order,
        random_state: int | np.random.RandomState | None = RANK.random_state,
    ):
        self.bandwidth = bandwidth
        self.order = order
        self.random_state = random_state

    _parameter_constraints: dict = parameter_constraints(__init__, RANK)

    def fit(self, X: ArrayLike, y: None = None) -> VendiScore:
        """Resolve the bandwidth on X and compute its Vendi score.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : VendiScore
            The fitted estimator.
        """
        self._validate_params()
        X = validate_estimator_X(self, X, reset=True)
        self.vendi_score_, self.bandwidth_ = _vendi(
            X, self.bandwidth, self.order, self.random_state
        )
        return self

    def score(self, X: ArrayLike, y: None = None) -> float:
        """The Vendi score of X with the fitted bandwidth.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with the features seen in ``fit``.
        y : None
            Ignored.

        Returns
        -------
        float
            The Vendi score of X at ``bandwidth_``.
        """
        check_is_fitted(self)
        self._validate_params()
        X = validate_estimator_X(self, X, reset=False)
        return vendi_of(X, self.bandwidth_, self.order)
