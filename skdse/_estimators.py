"""scikit-learn estimators over the DSE and DSMI engines."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data

from ._engine.backend import is_numpy, namespace, releases_device_memory
from ._engine.placement import placement_of
from ._engine.spectrum import ExactSpectrum
from ._entropy import compute_dse
from ._mi import DSMIResult, compute_dsmi
from ._params import (
    ENTROPY,
    PARTITION,
    EntropyParams,
    check_value,
    entropy_params,
    parameter_constraints,
)
from ._partition import PartitionsReference
from ._validation import (
    check_not_masked,
    check_X,
    validate_estimator_X,
    warn_if_degenerate,
    warn_if_deprecated_bandwidth,
)


class _SpectralMeasure(BaseEstimator):
    """Shared parameter handling; not public."""

    def _entropy_params(
        self, *, n_subsamples=ENTROPY.n_subsamples, n_repeats=ENTROPY.n_repeats
    ) -> EntropyParams:
        """The settings of the validated parameters (each measure passes its own count)."""
        return entropy_params(
            affinity=self.affinity,
            bandwidth=self.bandwidth,
            t=self.t,
            base=self.base,
            order=self.order,
            max_samples=self.max_samples,
            n_subsamples=n_subsamples,
            solver=self.solver,
            operator=self.operator,
            n_neighbors=self.n_neighbors,
            neighbors=self.neighbors,
            n_lanczos_steps=self.n_lanczos_steps,
            n_probes=self.n_probes,
            n_deflate=self.n_deflate,
            backend=self.backend,
            dtype=self.dtype,
            verbose=self.verbose,
            memory=self.memory,
            n_repeats=n_repeats,
            n_jobs=self.n_jobs,
        )

    def _check_X(self, X, params: EntropyParams, *, reset: bool):
        """Validate X with validated ``params``: NumPy through scikit-learn, devices in place."""
        X = placement_of(X).to_backend(check_not_masked(X, "X"), params.backend)
        if is_numpy(namespace(X)) and not params.pairwise:  # float64 whatever dtype
            return validate_estimator_X(self, X, reset=reset)
        X = check_X(X, affinity=params.affinity)
        # scikit-learn's n_features_in_ / feature_names_in_ bookkeeping, X left where it is;
        # the points scored against a precomputed affinity need not be as many as fit's
        if reset or not params.pairwise:
            validate_data(self, X, reset=reset, skip_check_array=True)
        return X

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        tags.requires_fit = True
        tags.input_tags.pairwise = self.affinity == "precomputed"  # as SpectralEmbedding
        return tags


class DiffusionSpectralEntropy(_SpectralMeasure):
    """Diffusion spectral entropy (DSE) as a scikit-learn estimator.

    ``fit`` resolves the kernel bandwidth on the training data and computes
    its DSE; ``score`` computes the DSE of other data with the same kernel.
    That makes DSE usable as the last step of a :class:`~sklearn.pipeline.Pipeline`
    and as the criterion of :class:`~sklearn.model_selection.GridSearchCV`
    (which keeps the parameters with the highest held-out DSE).

    Parameters
    ----------
    affinity : {"gaussian", "knn", "precomputed"}, default="gaussian"
        The kernel: the dense Gaussian affinity, the sparse adaptive kNN
        graph, or ``"precomputed"``: X is your own (n_samples, n_samples)
        affinity in ``fit`` and the affinity of the points scored in
        ``score``; see :func:`diffusion_spectral_entropy`.
    bandwidth : float, "scale" or "median", default="scale"
        Width sigma of the Gaussian affinity, ignored for the ``"knn"`` and
        ``"precomputed"`` affinities;
        see :func:`diffusion_spectral_entropy` (``"knn"`` is deprecated: it
        means ``affinity="knn"``, with a ``FutureWarning`` in ``fit``).
    t : float or "auto", default=1
        Diffusion time (power of the eigenvalues). ``"auto"``: the t at the
        knee of the training data's entropy profile (t = 1 to 100, from the
        fitted spectrum; PHATE's rule, see :func:`diffusion_spectral_entropy`),
        kept as ``t_`` and reused by :meth:`score`.
    base : float, default=2
        Logarithm base, > 1; 2 gives bits.
    order : float, default=1
        Rényi order of every entropy term (1: Shannon's; ``numpy.inf``: the
        min-entropy); see :func:`diffusion_spectral_entropy`; :meth:`entropy_profile` uses it too.
    max_samples : int or None, default=10000
        Rows above this are subsampled uniformly (seeded by ``random_state``).
    n_subsamples : int, default=1
        Independent subsamples (each a task) averaged when X has more rows
        than ``max_samples``; their spread is ``entropy_std_``.
    solver : {"auto", "exact", "slq"}, default="auto"
        ``"exact"``: all eigenvalues (O(N^3)); ``"slq"``: stochastic Lanczos
        quadrature from matrix products (large N); ``"auto"``: exact up to
        2500 points. See :func:`diffusion_spectral_entropy`.
    operator : {"auto", "dense", "matrix_free"}, default="auto"
        What slq multiplies with.
    n_neighbors : int, default=15
        Neighbours of the ``"knn"`` affinity.
    neighbors : {"auto", "exact", "approximate"}, default="auto"
        Neighbour search of the ``"knn"`` affinity: ``"exact"``, or
        ``"approximate"`` (NN-descent, needs ``pynndescent``; seeded from
        ``random_state``; recall >= 0.95 measured); ``"auto"`` searches
        approximately above 100000 points when pynndescent is installed.
        With ``random_state`` given, NN-descent runs on one thread (the
        same graph on every machine); with None, on the threads ``n_jobs``
        allows (faster, not reproducible). A Dask array's neighbours are
        searched on the cluster (the approximate search in one task on a worker).
    n_lanczos_steps : int, default=30
        Lanczos steps per probe (slq).
    n_probes : int, default=32
        Random probes (slq).
    n_deflate : int or "auto", default="auto"
        Leading directions deflated before probing (slq). ``"auto"``: 64,
        doubled (up to 1024, memory allowing) while the standard error is
        over a quarter of max(0.02 bits, 0.5 %); ``spectrum_.n_deflated``
        says how many were used.
    backend : {"auto", "numpy", "cupy"}, default="auto"
        Where to compute: ``"auto"`` follows the input (CuPy arrays and CUDA
        tensors on their GPU); ``"cupy"`` moves NumPy input to the GPU.
        Fitted attributes are NumPy arrays and floats either way.
    dtype : {"float64", "float32"}, default="float64"
        Precision of the exact solver (float32: faster; 1e-7 bits error on
        spread-out data, up to 2e-4 on almost-all-zero spectra, see
        :func:`diffusion_spectral_entropy`).
    verbose : int, default=0
        Above 0, progress bars (tqdm, if installed) for long computations.
    memory : str, path or joblib.Memory, default=None
        On-disk cache of spectra keyed on the data and kernel parameters
        (not t), as ``Pipeline(memory=...)``; hits are bit-identical.
    random_state : int, RandomState instance or None, default=None
        Seeds subsampling, the ``"median"`` bandwidth and slq's probes.
    n_jobs : int or None, default=None
        CPUs to use (scikit-learn's meaning; -1: all usable CPUs, counting
        CPU affinity and cgroup quota): workers of the ``n_subsamples``
        ensemble (None: 1 unless in a ``joblib.parallel_config`` context)
        and threads of slq's matrix-free products, shared by those workers
        (None: every usable CPU). See :func:`diffusion_spectral_entropy`;
        the result does not depend on it beyond float64 rounding.

    Attributes
    ----------
    affinity_ : str
        The affinity used, ``"gaussian"``, ``"knn"`` or ``"precomputed"``;
        :meth:`score` uses it too.
    bandwidth_ : float or None
        The resolved sigma, reused by :meth:`score`; None for the ``"knn"``
        affinity, which has no single width (each point has its own, from
        the data scored), and for ``"precomputed"``.
    entropy_ : float
        DSE of the training data.
    entropy_std_ : float
        Standard error of ``entropy_`` over slq's probes (0.0 when exact), or
        the spread over subsamples when ``n_subsamples > 1``.
    t_ : float
        The diffusion time used: ``t``, or for ``t="auto"`` the knee found
        on the training data (:meth:`score` uses it then).
    solver_ : str
        The solver that ran, ``"exact"`` or ``"slq"``. ``solver="slq"`` runs
        the exact solver on at most ``1 + n_deflate + n_probes`` rows, where
        slq's vectors would span the space anyway (and its probes still err).
    spectrum_ : object
        The fitted spectrum: all eigenvalues (exact) or slq's quadrature rule;
        :meth:`entropy_profile` reads it.
    eigenvalues_ : ndarray of shape (n_used,) or None
        Eigenvalues of the diffusion operator, sorted descending (exact
        solver on one sample only; None for slq and for subsample ensembles).
    n_samples_used_ : int
        Rows the spectrum was computed on (after subsampling).
    n_features_in_ : int
        Number of features seen during ``fit`` (the number of samples for
        ``"precomputed"``, whose ``score`` takes any number of points).
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``, when X has string column names.

    See Also
    --------
    diffusion_spectral_entropy : the function behind this estimator.
    DiffusionSpectralMI : mutual information between a representation and labels.

    Examples
    --------
    >>> import numpy as np
    >>> from skdse import DiffusionSpectralEntropy
    >>> X = np.random.default_rng(0).normal(size=(300, 8))
    >>> est = DiffusionSpectralEntropy(t=2).fit(X)
    >>> round(est.entropy_, 3) == round(est.score(X), 3)
    True
    >>> est.entropy_profile([1, 2, 4]).shape
    (3,)
    >>> slq = DiffusionSpectralEntropy(t=2, solver="slq", random_state=0).fit(X)
    >>> bool(abs(slq.entropy_ - est.entropy_) < 4 * slq.entropy_std_ + 0.01)
    True
    >>> auto = DiffusionSpectralEntropy(t="auto").fit(X)  # t at the profile's knee
    >>> auto.t_, auto.entropy_ == auto.entropy_profile(auto.t_)
    (3.0, True)
    """

    def __init__(
        self,
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
        verbose=ENTROPY.verbose,
        memory=ENTROPY.memory,
        random_state=ENTROPY.random_state,
        n_jobs=ENTROPY.n_jobs,
    ):
        self.affinity = affinity
        self.bandwidth = bandwidth
        self.t = t
        self.base = base
        self.order = order
        self.max_samples = max_samples
        self.n_subsamples = n_subsamples
        self.solver = solver
        self.operator = operator
        self.n_neighbors = n_neighbors
        self.neighbors = neighbors
        self.n_lanczos_steps = n_lanczos_steps
        self.n_probes = n_probes
        self.n_deflate = n_deflate
        self.backend = backend
        self.dtype = dtype
        self.verbose = verbose
        self.memory = memory
        self.random_state = random_state
        self.n_jobs = n_jobs

    _parameter_constraints: dict = parameter_constraints(__init__, ENTROPY)

    def _settings(self) -> EntropyParams:
        return self._entropy_params(n_subsamples=self.n_subsamples)

    @releases_device_memory
    def fit(self, X, y=None):
        """Resolve the bandwidth on X and compute its DSE.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, n_samples)
            Training data: NumPy, CuPy, PyTorch, or a row-chunked dask array
            (computed on the cluster, see :doc:`/dask`); the affinity between
            the samples for ``affinity="precomputed"``.
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : DiffusionSpectralEntropy
        """
        self._validate_params()
        warn_if_deprecated_bandwidth(self.bandwidth)
        params = self._settings()
        X = self._check_X(X, params, reset=True)
        res = compute_dse(X, params, random_state=self.random_state)
        warn_if_degenerate(res.diagnostics, res.bandwidth)
        self.affinity_ = params.affinity
        self.bandwidth_ = res.bandwidth
        self.entropy_ = res.entropy
        self.entropy_std_ = res.entropy_std
        self.t_ = res.t
        self.spectrum_ = res.spectrum
        members = getattr(res.spectrum, "members", (res.spectrum,))
        self.solver_ = "exact" if isinstance(members[0], ExactSpectrum) else "slq"
        exact_single = self.solver_ == "exact" and len(members) == 1
        self.eigenvalues_ = res.spectrum.eigenvalues if exact_single else None
        self.n_samples_used_ = res.n_samples_used
        return self

    @releases_device_memory
    def score(self, X, y=None):
        """DSE of X with the kernel of ``fit`` (its affinity and resolved bandwidth).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, n_samples)
            Data to score; for ``affinity="precomputed"``, the affinity
            between the points scored (square: not their affinity to the
            training points).
        y : None
            Ignored.

        Returns
        -------
        float
        """
        check_is_fitted(self)
        self._validate_params()  # set_params may have changed them since fit
        params = self._settings().with_kernel(self.affinity_, self.bandwidth_)
        X = self._check_X(X, params, reset=False)
        if params.t == "auto":  # the knee of fit, as the kernel is fit's
            params = replace(params, t=self.t_)
        res = compute_dse(X, params, random_state=self.random_state)
        warn_if_degenerate(res.diagnostics, res.bandwidth)
        return res.entropy

    def entropy_profile(self, t):
        """DSE of the training data at other diffusion times, from the stored spectrum.

        No kernel or eigensolver is run again (with slq, the same quadrature
        rule is evaluated at each t).

        Parameters
        ----------
        t : float or array-like of float
            Diffusion times, each > 0 (at least one). Anything else raises
            a TypeError or ValueError naming ``t``.

        Returns
        -------
        float or ndarray of the shape of ``t``

        Examples
        --------
        >>> import numpy as np
        >>> from skdse import DiffusionSpectralEntropy
        >>> est = DiffusionSpectralEntropy().fit(np.random.default_rng(0).normal(size=(100, 3)))
        >>> prof = est.entropy_profile(np.arange(1, 6))
        >>> bool(np.all(np.diff(prof) <= 1e-12))
        True
        """
        check_is_fitted(self)
        self._validate_params()  # set_params may have changed them since fit
        raw = None if isinstance(t, (str, bytes)) else np.asarray(t)
        if raw is None or raw.dtype.kind not in "iuf":
            raise TypeError(
                "t must be a positive number or an array-like of positive numbers, "
                f"got {t!r} of type {type(t).__name__}."
            )
        if raw.size == 0:
            raise ValueError("t must hold at least one diffusion time, got an empty array-like.")
        ts = raw.astype(np.float64)
        for value in ts.ravel():
            check_value(ENTROPY, "t", float(value), "entropy_profile", numbers_only=True)
        return self.spectrum_.entropy(
            ts if ts.ndim else float(ts), float(self.base), float(self.order)
        )


class MutualInformationFit:
    """Stores a mutual-information result as fitted attributes (scikit-learn's ``name_``).

    Shared by :class:`DiffusionSpectralMI` and the baselines' MI estimator;
    the engine's :class:`~skdse._mi.DSMIResult` knows no attribute names.
    """

    def _store_result(self, res: DSMIResult) -> None:
        if res.solver is not None:
            self.solver_ = res.solver
            self.n_samples_used_ = res.n_samples_used
            self.t_ = res.t
        self.bandwidth_ = res.bandwidth
        self.mutual_information_ = res.mutual_information
        self.mutual_information_std_ = res.mutual_information_std
        self.entropy_ = res.entropy
        self.conditional_entropy_ = res.conditional_entropy
        self.groups_ = res.groups
        self.group_sizes_ = res.group_sizes
        self.group_conditional_entropies_ = res.conditional
        self.group_marginal_entropies_ = res.marginal
        self.group_marginal_stds_ = res.marginal_std


class DiffusionSpectralMI(PartitionsReference, MutualInformationFit, _SpectralMeasure):
    """Diffusion spectral mutual information (DSMI) between X and labels.

    ``DSMI = sum_g p_g (DSE(X*_g) - DSE(X | y=g))``: each class's DSE
    against the mean DSE of random subsets of X of the same size. ``fit``
    resolves the bandwidth on the whole X and computes DSMI; ``score(X, y)``
    computes DSMI of other data with that bandwidth, so
    ``GridSearchCV(make_pipeline(PCA(), DiffusionSpectralMI()), ...)`` picks
    the embedding that holds most information about the labels.

    Parameters
    ----------
    affinity : {"gaussian", "knn", "precomputed"}, default="gaussian"
        The kernel: the dense Gaussian affinity, the sparse adaptive kNN
        graph, or ``"precomputed"``: X is your own (n_samples, n_samples)
        affinity in ``fit`` and the affinity of the points scored in
        ``score``; see :func:`diffusion_spectral_entropy`.
    bandwidth : float, "scale" or "median", default="scale"
        Width sigma of the Gaussian affinity, ignored for the ``"knn"`` and
        ``"precomputed"`` affinities;
        see :func:`diffusion_spectral_entropy` (``"knn"`` is deprecated: it
        means ``affinity="knn"``, with a ``FutureWarning`` in ``fit``).
    t : float or "auto", default=1
        Diffusion time of every term. ``"auto"``: the knee of X's DSE profile
        as DSMI measures it (``entropy_`` as a function of t), one t for
        every term (see :func:`diffusion_spectral_mutual_information`), kept
        as ``t_`` and reused by :meth:`score`.
    base : float, default=2
        Logarithm base, > 1; 2 gives bits.
    order : float, default=1
        Rényi order of every entropy term (1: Shannon's; ``numpy.inf``: the
        min-entropy); see :func:`diffusion_spectral_entropy`; :meth:`entropy_profile` uses it too.
    n_repeats : int, default=5
        Random subsets averaged for each class's marginal term.
    max_samples : int or None, default=10000
        Most rows any one term is computed on.
    solver : {"auto", "exact", "slq"}, default="auto"
        ``"exact"``: all eigenvalues (O(N^3)); ``"slq"``: stochastic Lanczos
        quadrature from matrix products (large N); ``"auto"``: exact up to
        2500 points. See :func:`diffusion_spectral_entropy`.
    operator : {"auto", "dense", "matrix_free"}, default="auto"
        What slq multiplies with.
    n_neighbors : int, default=15
        Neighbours of the ``"knn"`` affinity.
    neighbors : {"auto", "exact", "approximate"}, default="auto"
        Neighbour search of the ``"knn"`` affinity: ``"exact"``, or
        ``"approximate"`` (NN-descent, needs ``pynndescent``; seeded from
        ``random_state``; recall >= 0.95 measured); ``"auto"`` searches
        approximately above 100000 points when pynndescent is installed.
        With ``random_state`` given, NN-descent runs on one thread (the
        same graph on every machine); with None, on the threads ``n_jobs``
        allows (faster, not reproducible). A Dask array's neighbours are
        searched on the cluster (the approximate search in one task on a worker).
    n_lanczos_steps : int, default=30
        Lanczos steps per probe (slq).
    n_probes : int, default=32
        Random probes (slq).
    n_deflate : int or "auto", default="auto"
        Leading directions deflated before probing (slq). ``"auto"``: 64,
        doubled (up to 1024, memory allowing) while the standard error is
        over a quarter of max(0.02 bits, 0.5 %); ``spectrum_.n_deflated``
        says how many were used.
    backend : {"auto", "numpy", "cupy"}, default="auto"
        Where to compute: ``"auto"`` follows the input (CuPy arrays and CUDA
        tensors on their GPU); ``"cupy"`` moves NumPy input to the GPU.
        Fitted attributes are NumPy arrays and floats either way.
    dtype : {"float64", "float32"}, default="float64"
        Precision of the exact solver (float32: faster; 1e-7 bits error on
        spread-out data, up to 2e-4 on almost-all-zero spectra, see
        :func:`diffusion_spectral_entropy`).
    verbose : int, default=0
        Above 0, progress bars (tqdm, if installed) for long computations.
    memory : str, path or joblib.Memory, default=None
        On-disk cache of spectra keyed on the data and kernel parameters
        (not t), as ``Pipeline(memory=...)``; hits are bit-identical.
    y_type : {"auto", "discrete", "continuous"}, default="auto"
        How to read y (see :func:`partition_reference`): discrete labels are
        used as they are, a continuous scalar is binned, a continuous vector
        (e.g. flattened inputs) is clustered.
    n_bins : int, default=10
        Equal-width bins of a min-max scaled continuous scalar y.
    n_clusters : int, default=10
        Clusters of the default spectral clustering of a vector y.
    clusterer : scikit-learn clusterer or None, default=None
        Replaces the default ``SpectralClustering`` of a vector y.
    random_state : int, RandomState instance or None, default=None
        Seeds the random subsets, slq's probes and the default clusterer.
    n_jobs : int or None, default=None
        Terms computed in parallel by joblib (None: 1 unless in a
        ``joblib.parallel_config`` context; -1: all usable CPUs); the terms
        running at once share the CPUs of slq's matrix-free products (terms
        x threads within n_jobs, or within the usable CPUs for None). The
        result does not depend on it beyond float64 rounding.

    Attributes
    ----------
    affinity_ : str
        The affinity used, ``"gaussian"``, ``"knn"`` or ``"precomputed"``;
        :meth:`score` uses it too.
    bandwidth_ : float or None
        The resolved sigma, reused by :meth:`score`; None for the ``"knn"``
        affinity, which has no single width (each point has its own, from
        the data scored), and for ``"precomputed"``.
    mutual_information_ : float
        DSMI of the training data.
    mutual_information_std_ : float
        Standard error of ``mutual_information_`` over the estimator's own
        randomness: the random subsets of the ``n_repeats`` repeats, the
        subsamples of classes above ``max_samples``, slq's probes. Not the
        data's sampling variability (bootstrap or cross-validate for that).
        NaN when ``n_repeats=1``. For a 95% interval use the t quantile with
        ``n_repeats - 1`` degrees of freedom (2.78 for 5 repeats); see
        :func:`diffusion_spectral_mutual_information`.
    entropy_ : float
        Size-matched marginal DSE, ``sum_g p_g DSE(X*_g)``.
    conditional_entropy_ : float
        ``sum_g p_g DSE(X | y=g)``.
    t_ : float
        The diffusion time of every term: ``t``, or for ``t="auto"`` the knee
        found in ``fit`` (:meth:`score` uses it then).
    partition_ : ndarray of shape (n_samples,)
        The group of each training sample: y itself for labels, bin indices
        (1..n_bins) or cluster labels for a continuous reference. Pass it as
        y to score later checkpoints against the same partition.
    groups_ : ndarray of shape (n_groups,)
        The group labels, sorted.
    group_sizes_ : ndarray of shape (n_groups,)
        Samples per class.
    group_conditional_entropies_ : ndarray of shape (n_groups,)
        DSE of each class's rows (for a class above ``max_samples``, the
        mean over ``n_repeats`` subsamples, each paired with a marginal
        subset; a constant y gives DSMI exactly 0).
    group_marginal_entropies_ : ndarray of shape (n_groups,)
        Mean DSE of the matched random subsets for each class.
    group_marginal_stds_ : ndarray of shape (n_groups,)
        Their standard deviation over the repeats.
    solver_ : str
        The solver the class terms ran: ``"exact"``, ``"slq"``, or
        ``"exact+slq"`` when small classes ran exactly (see ``solver``).
    n_samples_used_ : int
        Rows in the class terms: the sum over classes of
        ``min(class size, max_samples)``.
    n_features_in_ : int
        Number of features seen during ``fit`` (the number of samples for
        ``"precomputed"``, whose ``score`` takes any number of points).
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``, when X has string column names.

    See Also
    --------
    diffusion_spectral_mutual_information : the function behind this estimator.

    Examples
    --------
    >>> import numpy as np
    >>> from skdse import DiffusionSpectralMI
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat(["a", "b"], 60)
    >>> X = rng.normal(size=(120, 3)) + 5 * (y == "b")[:, None]
    >>> est = DiffusionSpectralMI(random_state=0).fit(X, y)
    >>> est.groups_.tolist(), est.group_sizes_.tolist()
    (['a', 'b'], [60, 60])
    >>> bool(est.mutual_information_ > 0.5)
    True
    >>> bool(0 <= est.mutual_information_std_ < 0.1)
    True
    """

    def __init__(
        self,
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
        verbose=ENTROPY.verbose,
        memory=ENTROPY.memory,
        y_type=PARTITION.y_type,
        n_bins=PARTITION.n_bins,
        n_clusters=PARTITION.n_clusters,
        clusterer=PARTITION.clusterer,
        random_state=ENTROPY.random_state,
        n_jobs=ENTROPY.n_jobs,
    ):
        self.affinity = affinity
        self.bandwidth = bandwidth
        self.t = t
        self.base = base
        self.order = order
        self.n_repeats = n_repeats
        self.max_samples = max_samples
        self.solver = solver
        self.operator = operator
        self.n_neighbors = n_neighbors
        self.neighbors = neighbors
        self.n_lanczos_steps = n_lanczos_steps
        self.n_probes = n_probes
        self.n_deflate = n_deflate
        self.backend = backend
        self.dtype = dtype
        self.verbose = verbose
        self.memory = memory
        self.y_type = y_type
        self.n_bins = n_bins
        self.n_clusters = n_clusters
        self.clusterer = clusterer
        self.random_state = random_state
        self.n_jobs = n_jobs

    _parameter_constraints: dict = parameter_constraints(__init__, ENTROPY, PARTITION)

    def _settings(self) -> EntropyParams:
        return self._entropy_params(n_repeats=self.n_repeats)

    def _compute(self, X, labels, params):
        return compute_dsmi(X, labels, params, random_state=self.random_state, n_jobs=self.n_jobs)

    @releases_device_memory
    def fit(self, X, y):
        """Resolve the bandwidth on X and compute DSMI(X; y).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, n_samples)
            Training data: NumPy, CuPy, PyTorch, or a row-chunked dask array
            (computed on the cluster, see :doc:`/dask`); the affinity between
            the samples for ``affinity="precomputed"``.
        y : array-like of shape (n_samples,)
            Class labels.

        Returns
        -------
        self : DiffusionSpectralMI
        """
        self._validate_params()
        warn_if_deprecated_bandwidth(self.bandwidth)
        params = self._settings()
        X = self._check_X(X, params, reset=True)
        self.partition_ = self._partition(X, y)
        res = self._compute(X, self.partition_, params)
        warn_if_degenerate(res.diagnostics, res.bandwidth)
        self._store_result(res)
        self.affinity_ = params.affinity
        return self

    @releases_device_memory
    def score(self, X, y):
        """DSMI of (X, y) with the kernel of ``fit`` (its affinity and resolved bandwidth).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, n_samples)
            Data to score; for ``affinity="precomputed"``, the affinity
            between the points scored (square: not their affinity to the
            training points).
        y : array-like of shape (n_samples,)
            Class labels.

        Returns
        -------
        float
        """
        check_is_fitted(self)
        self._validate_params()  # set_params may have changed them since fit
        params = self._settings().with_kernel(self.affinity_, self.bandwidth_)
        X = self._check_X(X, params, reset=False)
        if params.t == "auto":  # the knee of fit, as the kernel is fit's
            params = replace(params, t=self.t_)
        res = self._compute(X, self._partition(X, y), params)
        warn_if_degenerate(res.diagnostics, res.bandwidth)
        return res.mutual_information

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags
