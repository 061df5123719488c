"""Diffusion spectral entropy: subsamples, ensembles, the spectrum cache and the public function.

The spectrum itself comes from the engine (:func:`skdse._engine.solve.solve`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_memory as as_joblib_memory

from ._engine.backend import releases_device_memory, to_numpy
from ._engine.kernels import KernelDiagnostics
from ._engine.knee import knee_time
from ._engine.placement import placement_of
from ._engine.progress import progress
from ._engine.resources import threads_per_task
from ._engine.slq import QuadratureSpectrum
from ._engine.solve import resolve_solver, solve
from ._engine.spectrum import ExactSpectrum
from ._params import ENTROPY, EntropyParams, entropy_params, validated
from ._validation import (
    check_X,
    warn_if_degenerate,
    warn_if_deprecated_bandwidth,
)


def _spectrum_job(X, X_host, sigma, params: EntropyParams, seed: int, n_jobs=None):
    """What the cache stores; ``X_host`` is the key, ``X`` and ``n_jobs`` (ignored) the data."""
    return solve(X, sigma, replace(params, n_jobs=n_jobs), np.random.default_rng(seed))


def cached_spectrum(X, sigma, params: EntropyParams, seed: int):
    """The engine's :func:`~skdse._engine.solve.solve`, through ``params.memory`` when one is set.

    The key is the data (its host copy), sigma, the seed and every parameter
    that changes the spectrum; t, base, order and verbose are left out, so a cached
    spectrum serves any diffusion time, and n_jobs too. Hits return the stored float64
    spectrum bit for bit.
    """
    if params.memory is None:
        return solve(X, sigma, params, np.random.default_rng(seed))
    if resolve_solver(X.shape[0], params) == "exact":
        seed = 0  # the exact spectrum is not random: do not let the seed miss the cache
    memory = as_joblib_memory(params.memory)
    key = replace(
        params,
        t=1.0,
        base=2.0,
        order=1.0,
        verbose=0,
        n_repeats=1,
        backend="auto",
        memory=None,
        n_jobs=None,
    )
    job = memory.cache(_spectrum_job, ignore=["X", "n_jobs"])
    return job(X, to_numpy(X), sigma, key, seed, n_jobs=params.n_jobs)


def subsample_indices(n: int, max_samples: int | None, rng):
    """Sorted indices of a uniform subsample without replacement, or None if ``n`` fits."""
    if max_samples is None or n <= max_samples:
        return None
    return np.sort(rng.choice(n, max_samples, replace=False))


@dataclass(frozen=True)
class DSEResult:
    entropy: float
    entropy_std: float
    spectrum: ExactSpectrum | QuadratureSpectrum
    #: the resolved sigma; None for the knn affinity (no single width)
    bandwidth: float | None
    n_samples_used: int
    #: the kernel's affinities summarised (of the first subsample in an
    #: ensemble); the public entry points warn from them
    diagnostics: KernelDiagnostics
    #: the diffusion time used: ``params.t``, or for ``"auto"`` the knee of the profile
    t: float | None = None


@dataclass(frozen=True)
class EnsembleSpectrum:
    """Spectra of independent subsamples; DSE is their mean, the spread their std.

    ``entropy_std`` is the standard deviation over the subsamples (each
    subsample's own slq error is part of that spread).
    """

    members: tuple

    @property
    def n(self) -> int:
        return self.members[0].n

    def _each(self, t, base, order):
        return np.array([np.asarray(m.entropy(t, base, order), dtype=float) for m in self.members])

    def entropy(self, t, base, order=1.0):
        h = self._each(t, base, order).mean(axis=0)
        return float(h) if np.ndim(t) == 0 else h

    def entropy_std(self, t, base, order=1.0):
        h = self._each(t, base, order).std(axis=0)
        return float(h) if np.ndim(t) == 0 else h


def compute_dse(X: np.ndarray, params: EntropyParams, *, random_state=None) -> DSEResult:
    """DSE of validated ``X`` with validated parameters.

    A float ``params.bandwidth`` is used as sigma; ``"scale"`` and
    ``"median"`` are resolved on the full ``X`` before any subsampling; the
    ``"knn"`` and ``"precomputed"`` affinities have none (sigma None). A
    subsample of a precomputed affinity is its principal sub-matrix. With
    ``n_subsamples > 1`` and more rows than ``max_samples``, each subsample is
    an independent task (joblib with ``params.n_jobs`` workers, so a
    ``parallel_config(backend="dask")`` spreads them over a cluster), seeded
    by ``SeedSequence.spawn``: the result does not depend on how many workers
    ran them. The workers share ``params.n_jobs``'s CPUs for their products
    (:func:`~skdse._engine.resources.threads_per_task`). No warning is raised here:
    the result carries the kernel's diagnostics, and the public entry point
    warns from them (:func:`~skdse._validation.warn_if_degenerate`). ``t="auto"`` is
    resolved here, from the spectrum: the knee of its entropy profile
    (:func:`~skdse._engine.knee.knee_time`; of the ensemble's mean profile).
    """
    rng = check_random_state(random_state)
    params = replace(params, seeded=random_state is not None)
    place = placement_of(X)
    idx = subsample_indices(X.shape[0], params.max_samples, rng)
    sigma = (
        place.resolve_bandwidth(X, params.bandwidth, random_state=rng)
        if params.uses_bandwidth
        else None
    )
    seed = int(rng.randint(np.iinfo(np.int32).max))
    if idx is not None and params.n_subsamples > 1:
        from joblib import Parallel, delayed

        seqs = np.random.SeedSequence(seed).spawn(params.n_subsamples)
        picks = [
            np.sort(np.random.default_rng(q).choice(X.shape[0], params.max_samples, replace=False))
            for q in seqs
        ]
        threads = threads_per_task(params.n_jobs, params.n_subsamples)
        member_params = replace(params, verbose=0, n_jobs=threads)
        members = place.row_sets(X, picks, params.pairwise)  # a cluster's: in one pass
        jobs = Parallel(n_jobs=params.n_jobs, return_as="generator")(
            delayed(cached_spectrum)(Xm, sigma, member_params, int(q.generate_state(1)[0]))
            for Xm, q in zip(members, seqs)
        )
        out = list(progress(jobs, total=len(picks), desc="subsamples", verbose=params.verbose))
        spec, diag = EnsembleSpectrum(tuple(m for m, _ in out)), out[0][1]
        n_used = params.max_samples
    else:
        Xs = X if idx is None else place.take(X, idx, params.pairwise)
        spec, diag = cached_spectrum(Xs, sigma, params, seed)
        n_used = Xs.shape[0]
    t = knee_time(spec, params.base, params.order) if params.t == "auto" else params.t
    return DSEResult(
        entropy=float(spec.entropy(t, params.base, params.order)),
        entropy_std=float(spec.entropy_std(t, params.base, params.order)),
        spectrum=spec,
        bandwidth=sigma,
        n_samples_used=n_used,
        diagnostics=diag,
        t=t,
    )


@releases_device_memory
@validated(ENTROPY)
def diffusion_spectral_entropy(
    X,
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
    flatten=ENTROPY.flatten,
    verbose=ENTROPY.verbose,
    memory=ENTROPY.memory,
    random_state=ENTROPY.random_state,
    n_jobs=ENTROPY.n_jobs,
) -> float:
    """Diffusion spectral entropy (DSE) of a set of points.

    Builds the Gaussian affinity ``G_ij = exp(-||x_i - x_j||^2 / (2 sigma^2))``,
    its symmetric diffusion operator ``D^-1/2 G D^-1/2`` (the eigenvalues of
    the random-walk matrix ``P = D^-1 G``), and returns the Shannon entropy of
    ``p_i = |lambda_i|^t / sum_j |lambda_j|^t``. It lies in ``[0, log_base N]``:
    0 when the kernel sees one blob, ``log_base N`` when every point is isolated.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features) or (n_samples, n_samples)
        The representation (for example a layer's activations). At least two
        finite rows; sparse matrices are refused (densify them). A
        row-chunked dask array is computed on the cluster (see :doc:`/dask`).
        With ``affinity="precomputed"``, the affinity between the samples
        (a ``scipy.sparse`` matrix is accepted then).
    affinity : {"gaussian", "knn", "precomputed"}, default="gaussian"
        The kernel, as in :class:`sklearn.manifold.SpectralEmbedding`.
        ``"gaussian"``: the dense Gaussian affinity of width ``bandwidth``.
        ``"knn"``: a different kernel, with per-point widths ``sigma_i``
        (distance to the ``n_neighbors``-th neighbour),
        ``exp(-d_ij^2 / (2 sigma_i sigma_j))`` kept on the symmetrised kNN
        graph only; it is sparse, so it scales to large N, but its values
        differ from the dense Gaussian kernel's. ``bandwidth`` is ignored.
        ``"precomputed"``: X is your own affinity G, square, non-negative
        and symmetric (to ``sqrt(eps)`` of its dtype times ``max |G|``; a
        directed graph such as ``kneighbors_graph``'s must be symmetrised,
        ``0.5 * (G + G.T)``), dense on any array-API device, a dask array,
        or ``scipy.sparse``; the operator is ``D^-1/2 G D^-1/2`` with
        ``D = diag(G 1)``. A zero diagonal is allowed, but a point whose
        row sums to 0 raises a ValueError (also within a ``max_samples``
        subsample, whose affinity is the principal sub-matrix). slq
        multiplies with G as given (``operator`` is ignored);
        ``bandwidth`` is ignored.
    bandwidth : float, "scale" or "median", default="scale"
        Width sigma of the Gaussian affinity (ignored for ``"knn"`` and
        ``"precomputed"`` affinities).
        ``"scale"`` uses ``2 sigma^2 = sum_j Var(X[:, j])``
        (scikit-learn's SVC ``gamma="scale"`` on feature-centred X) and is
        invariant to rescaling, rotating and translating X; ``"median"`` is
        the median pairwise distance; a float is a fixed sigma (``10.0``
        reproduces the paper and ``dse-dsmi``).
        A float so small that every pair of distinct rows has affinity 0
        (down to the smallest float) gives that limit, ``log(n_distinct)``
        (duplicated rows stay together as one point). ``"knn"`` is
        deprecated (a ``FutureWarning``; removed in the next release): it
        means ``affinity="knn"``.
    t : float or "auto", default=1
        Diffusion time: the power of the eigenvalues. Larger t suppresses the
        small, noise-driven eigenvalues and lowers the entropy. ``"auto"``
        takes the t at the knee of the entropy profile, as PHATE picks its t
        (Moon et al. 2019): DSE (of this ``order``) at the integer times 1 to
        100, from the one spectrum (no further eigensolver run), and the knee
        by the two-line L-method (Salvador and Chan 2004) in PHATE's form
        (``find_knee_point``: the breakpoint whose two least-squares lines,
        both through it, have the least total absolute residual; PHATE's
        code fits its right line through one more point, which puts its
        knee one step later on smooth profiles). A flat profile (one
        eigenvalue, or all equal) gives t = 1. The knee depends on the grid's
        end (100) and not on ``base``; the same ``random_state`` gives the
        same t. :class:`DiffusionSpectralEntropy` keeps it as ``t_``.
    base : float, default=2
        Logarithm base, > 1; 2 gives bits, ``math.e`` nats.
    order : float, default=1
        Rényi order alpha of the entropy of ``p``: 1 is Shannon's
        ``-sum p log p``; any other alpha > 0 gives
        ``log(sum p^alpha) / (1 - alpha)`` (Rényi 1961), non-increasing in
        alpha, and ``numpy.inf`` the min-entropy ``-log max p``. With
        ``solver="slq"`` the quadrature integrates ``|lambda|^(t alpha)``:
        keep ``t * order >= 1`` there (below, slq was off by 0.1-0.2 bits
        at N = 2000, ten times its standard error).
    max_samples : int or None, default=10000
        Above this many rows, DSE is computed on a seeded uniform subsample
        without replacement. None uses every row (with ``solver="slq"``,
        N is limited only by time).
    n_subsamples : int, default=1
        With more rows than ``max_samples``: the mean DSE of this many
        independent subsamples, each a separate task (joblib; on a cluster
        under ``joblib.parallel_config(backend="dask")``); the estimator
        reports their spread as ``entropy_std_``.
    solver : {"auto", "exact", "slq"}, default="auto"
        ``"exact"``: all eigenvalues by LAPACK's symmetric eigensolver,
        O(N^3) time and 8 N^2 bytes. ``"slq"``: stochastic Lanczos
        quadrature of the two spectral sums DSE needs, from matrix products
        only, with the top eigenpair and ``n_deflate`` leading directions
        deflated; error below max(0.02 bits, 0.5 %) (measured). ``"auto"``: exact up to
        2500 points (where slq starts to be faster), slq above. Both compute
        exactly on at most ``1 + n_deflate + n_probes`` points (64 for ``"auto"``), where slq's
        vectors would span the space (and its probes still err).
    operator : {"auto", "dense", "matrix_free"}, default="auto"
        What slq multiplies with: the dense operator in float32 (4 N^2
        bytes), or kernel blocks recomputed from X for every product
        (O(N) memory, slower). ``"auto"`` takes dense while it uses less than
        half the available memory. For a dask X, dense blocks are persisted
        on the cluster and ``"auto"`` compares them with the workers' memory
        limits (see :doc:`/dask`).
    n_neighbors : int, default=15
        Neighbours of the ``"knn"`` affinity.
    neighbors : {"auto", "exact", "approximate"}, default="auto"
        Neighbour search of the ``"knn"`` affinity: ``"exact"``, or
        ``"approximate"`` (NN-descent, needs ``pynndescent``; seeded from
        ``random_state``; recall >= 0.95 measured); ``"auto"`` searches
        approximately above 100000 points when pynndescent is installed.
        With ``random_state`` given, NN-descent runs on one thread, so its
        graph is the same on every machine (as in UMAP); with
        ``random_state=None`` it runs on the threads ``n_jobs`` allows and
        its graph depends on their number (not reproducible). A Dask
        array's neighbours are searched on the cluster (the approximate
        search in one task on a worker).
    n_lanczos_steps : int, default=30
        Lanczos steps (quadrature nodes) per probe, for slq.
    n_probes : int, default=32
        Random probe vectors, for slq; the standard error falls as
        ``1 / sqrt(n_probes)``.
    n_deflate : int or "auto", default="auto"
        Leading directions estimated deterministically (Hutch++-style) before
        the probes, for slq; this is what keeps wide kernels and large t
        accurate. ``"auto"``: 64, doubled (up to 1024) while slq's standard
        error at ``t`` is over a quarter of its accuracy target max(0.02
        bits, 0.5 %), as long as the vectors fit in half the memory and do
        not span the space (each doubling reruns slq: the price of data whose
        spectrum has more comparable leading eigenvalues than that, such as a
        wide kernel on high-dimensional data). An int: exactly that many.
    backend : {"auto", "numpy", "cupy"}, default="auto"
        Where to compute. ``"auto"`` follows the input: NumPy arrays on the
        CPU, CuPy arrays (and CUDA PyTorch tensors) on their GPU, any other
        array-API array on its own device. ``"cupy"`` moves NumPy input to
        the GPU; ``"numpy"`` brings device input to the host.
    dtype : {"float64", "float32"}, default="float64"
        Precision of the exact solver's operator and eigensolver. float32
        halves memory and is about twice as fast (more on GPUs). Its error
        against float64 is the float32 eigensolver's rounding (about
        ``N eps32``) in the near-zero eigenvalues, relative to
        ``sum |lambda|^t``: measured 2e-8 to 3e-7 bits on spread-out data
        (N = 300-2000), 5e-6 to 2e-4 bits on data whose spectrum is almost
        all zeros (many duplicated rows, a few far-apart clusters). Distances
        are computed where they are accurate either way; slq always stores
        its operator in float32 and accumulates in float64.
    flatten : bool, default=False
        Reshape an X of shape (n_samples, d1, d2, ...), such as a
        convolutional layer's activations, to (n_samples, d1 * d2 * ...)
        where it lives (NumPy, CuPy, PyTorch, dask), as
        ``X.reshape(len(X), -1)``. Without it an X of rank above 2 is
        refused (the estimators always refuse it, as scikit-learn's do); a
        1-D X is refused either way.
    verbose : int, default=0
        Above 0, a progress bar over slq's Lanczos steps (tqdm, if installed).
    memory : str, path or joblib.Memory, default=None
        Cache of spectra on disk, as scikit-learn's ``Pipeline(memory=...)``:
        keyed on the data and the kernel and solver parameters (not t or
        base), in full float64. Re-scoring saved checkpoints with another t
        then costs no eigensolver run.
    random_state : int, RandomState instance or None, default=None
        Seeds the subsample, the ``"median"`` bandwidth and slq's probes. An
        int in ``[0, 2**32 - 1]``; a ``numpy.random.Generator`` is refused (as
        in scikit-learn): pass an integer drawn from it.
    n_jobs : int or None, default=None
        CPUs to use, in scikit-learn's meaning (-1: all usable CPUs, -2: all
        but one, ...), counted as joblib counts them: CPU affinity and the
        cgroup CPU quota of a container or job, not the machine's cores. It
        sets the workers of the ``n_subsamples`` ensemble (joblib; None: 1,
        unless a ``joblib.parallel_config`` context sets another number) and
        the threads of slq's matrix-free products, which the ensemble's
        workers share (workers x threads stay within n_jobs). For those
        threads None means every usable CPU, as BLAS threads do: one product
        is one task, and splitting it over threads changes only the
        summation order. The result does not depend on n_jobs beyond
        float64 rounding. The dense operator's and the exact eigensolver's
        BLAS threads are left to BLAS (``threadpoolctl`` sets them).

    Returns
    -------
    float
        DSE in units of ``log(base)``.

    Raises
    ------
    InsufficientMemoryError
        When the operator would not fit in the available memory.

    Warns
    -----
    UserWarning
        When the bandwidth makes the kernel degenerate (all affinities ~1 or ~0).
    FutureWarning
        When ``bandwidth="knn"`` (deprecated): pass ``affinity="knn"``.

    See Also
    --------
    DiffusionSpectralEntropy : the same measure as an estimator, which also
        keeps the spectrum and slq's standard error.

    References
    ----------
    K. R. Moon, D. van Dijk, Z. Wang et al., "Visualizing structure and
    transitions in high-dimensional biological data", Nature Biotechnology
    37, 1482-1492, 2019 (PHATE; its t: the knee of the entropy profile).

    S. Salvador and P. Chan, "Determining the number of clusters/segments in
    hierarchical clustering/segmentation algorithms", Proc. 16th IEEE ICTAI,
    pp. 576-584, 2004 (the L-method of ``t="auto"``'s knee).

    Examples
    --------
    >>> import numpy as np
    >>> from skdse import diffusion_spectral_entropy
    >>> X = np.random.default_rng(0).normal(size=(200, 5))
    >>> h = diffusion_spectral_entropy(X, bandwidth="scale", t=1)
    >>> bool(0 <= h <= np.log2(200))
    True
    >>> h_slq = diffusion_spectral_entropy(X, solver="slq", random_state=0)
    >>> bool(abs(h - h_slq) < 0.05)
    True
    >>> h_knn = diffusion_spectral_entropy(X, affinity="knn", n_neighbors=10)
    >>> bool(0 <= h_knn <= np.log2(200))
    True
    >>> h_auto = diffusion_spectral_entropy(X, t="auto")  # the t at the profile's knee
    >>> h_auto == diffusion_spectral_entropy(X, t=4)
    True
    >>> from scipy.spatial.distance import cdist
    >>> G = np.exp(-cdist(X, X, "sqeuclidean") / 2)  # the Gaussian affinity, sigma = 1
    >>> h_g = diffusion_spectral_entropy(G, affinity="precomputed")
    >>> bool(abs(h_g - diffusion_spectral_entropy(X, bandwidth=1.0)) < 1e-9)
    True
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
        verbose=verbose,
        memory=memory,
        n_jobs=n_jobs,
    )
    X = check_X(X, backend=params.backend, affinity=params.affinity, flatten=flatten)
    res = compute_dse(X, params, random_state=random_state)
    warn_if_degenerate(res.diagnostics, res.bandwidth)
    return res.entropy
