"""Diffusion spectral mutual information: partition, matched subsets, DSMI."""

from __future__ import annotations

import functools
import numbers
from dataclasses import dataclass, replace

import numpy as np
from joblib import Parallel, delayed
from sklearn.utils import check_random_state

from ._engine.backend import releases_device_memory
from ._engine.kernels import KernelDiagnostics
from ._engine.knee import KNEE_TIMES, knee_index
from ._engine.placement import placement_of
from ._engine.progress import progress
from ._engine.resources import check_dense_fits, threads_per_task
from ._engine.solve import resolve_solver
from ._engine.spectrum import jackknife_std
from ._entropy import cached_spectrum
from ._params import ENTROPY, PARTITION, EntropyParams, entropy_params, validated
from ._partition import partition_reference
from ._validation import (
    check_X,
    warn_if_degenerate,
    warn_if_deprecated_bandwidth,
)


def seed_sequence(random_state) -> np.random.SeedSequence:
    """A SeedSequence from scikit-learn's ``random_state`` convention.

    An int gives the same sequence every time; None fresh entropy; a
    RandomState instance is drawn from once.
    """
    if random_state is None:
        return np.random.SeedSequence()
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return np.random.SeedSequence(int(random_state))
    rs = check_random_state(random_state)
    return np.random.SeedSequence(int(rs.randint(np.iinfo(np.int32).max)))


@dataclass(frozen=True)
class DSMIResult:
    """Everything one DSMI computation produced.

    ``marginal`` is the mean DSE of ``n_repeats`` uniform random subsets of
    X matched in size to each group; ``conditional`` the DSE of the group.
    ``mutual_information_std`` is the standard error of ``mutual_information``
    over the estimator's own randomness (see :func:`mi_result`).
    """

    mutual_information: float
    mutual_information_std: float
    entropy: float
    conditional_entropy: float
    groups: np.ndarray
    group_sizes: np.ndarray
    conditional: np.ndarray
    marginal: np.ndarray
    marginal_std: np.ndarray
    #: the resolved sigma; None for the knn affinity and for baselines without one
    bandwidth: float | None
    #: rows of the class terms (each at most ``max_samples``); None for the baselines
    n_samples_used: int | None = None
    #: the spectrum solver(s) the terms ran: "exact", "slq" or "exact+slq"
    solver: str | None = None
    #: the kernel's affinities on the largest marginal subset, summarised; the
    #: public entry points warn from them. None for the baselines
    diagnostics: KernelDiagnostics | None = None
    #: the diffusion time of every term (``"auto"`` resolved); None for the baselines
    t: float | None = None


def _dse_term(Xs, seed: np.random.SeedSequence, *, sigma, params: EntropyParams, ts=None):
    """One term's DSE at ``params.t``, or (``t="auto"``) its profile at the times ``ts``."""
    spec, diag = cached_spectrum(Xs, sigma, params, int(seed.generate_state(1)[0]))
    times = params.t if ts is None else ts
    h = np.asarray(spec.entropy(times, params.base, params.order), dtype=float)
    if ts is None:
        return float(h), diag, spec.entropy_jackknife(params.t, params.base, params.order)
    # the profile and its leave-one-probe-out replicates at every time: (k, len(ts))
    jack = np.stack([spec.entropy_jackknife(ti, params.base, params.order) for ti in ts], axis=-1)
    return h, diag, jack


def _coupled_subsample(rows: np.ndarray, size: int, marginal_rows: np.ndarray, rng):
    """A uniform ``size``-subset of a group's ``rows``, coupled to a marginal subset.

    The group's rows inside ``marginal_rows`` (a uniform subset of X) are
    kept and topped up with others of the group drawn uniformly. The result
    is a uniform subset of the group (its law is invariant under permuting
    the group's rows), and when the group is all of X it is the marginal
    subset itself.
    """
    inside = np.intersect1d(rows, marginal_rows, assume_unique=True)
    if inside.shape[0] >= size:
        return np.sort(rng.choice(inside, size, replace=False))
    outside = np.setdiff1d(rows, inside, assume_unique=True)
    extra = rng.choice(outside, size - inside.shape[0], replace=False)
    return np.sort(np.concatenate([inside, extra]))


def matched_subset_mi(
    X,
    y: np.ndarray,
    term,
    *,
    n_repeats: int,
    max_samples: int | None,
    group_seeds,
    n_jobs=None,
    verbose=0,
    desc: str = "MI terms",
    pairwise: bool = False,
):
    """The matched-subset estimator shared by every mutual information here.

    ``MI = sum_g p_g (H(X*_g) - H(X | y=g))`` where ``H(X*_g)`` is the mean of
    ``term`` over ``n_repeats`` uniform random subsets of X of the group's
    size. ``term(Xs, seed) -> (entropy, diagnostics[, jackknife])`` computes
    one entropy, or one array of them (say at several t: the results gain
    its axes); ``jackknife``, when given, holds its leave-one-probe-out
    estimates along a first axis (empty for an exact term).
    Each term sees at most ``max_samples`` rows. ``group_seeds`` (one
    SeedSequence per group) make the result independent of ``n_jobs``.
    ``pairwise``: X is a precomputed affinity, and each term gets the
    principal sub-matrix of its points (their rows and columns).

    The terms of a group share their random numbers (common random
    numbers), so the noise they share cancels in the differences MI is made
    of, while each term keeps the law it would have alone (the estimate stays
    unbiased). Terms on equal rows with equal seeds are one computation, so
    MI of a constant y is exactly 0.

    - A group of at most ``max_samples`` rows: its term is computed once, and
      it and the group's ``n_repeats`` marginal subsets use one seed (slq's
      probes). Marginal subsets on different rows meet the shared probes at
      different points, so their average loses little from the sharing
      (random labels, N = 300, 3 classes, slq with ``n_deflate=4``,
      ``n_probes=8``, 12 seeds: spread of MI 0.080 with a seed per term,
      0.075 shared, at the same cost).
    - A larger group is subsampled anew in each repeat, coupled to that
      repeat's marginal subset (:func:`_coupled_subsample`), the pair sharing
      the repeat's seed; ``H(X | y=g)`` is the mean over the repeats. That is
      ``2 n_repeats`` terms instead of ``1 + n_repeats``; measured on
      random labels (N = 300, 3 classes, ``max_samples=40``, exact, 12
      seeds), the spread of MI fell from 0.080 to 0.055 (the variance halves
      for 1.7 times the terms).

    Returns
    -------
    groups, sizes, conditional (n_groups, n_repeats), marginal (n_groups, n_repeats), \
diagnostics, probe_variance (n_groups,)
        ``conditional[g, r]`` is the group's term paired with repeat r (one
        term repeated for a group of at most ``max_samples`` rows).
        ``diagnostics`` is that of the largest marginal subset.
        ``probe_variance[g]`` is the variance of slq's probe noise that the
        group's repeats share (:func:`_shared_probe_variance`); 0 for exact
        terms and for subsampled groups, whose repeats have their own seeds,
        so their probe noise is in the spread over the repeats.
    """
    groups, inverse, sizes = np.unique(y, return_inverse=True, return_counts=True)
    n = X.shape[0]
    term_size = sizes if max_samples is None else np.minimum(sizes, max_samples)
    jobs = []  # (rows, seed): one entry per distinct computation
    marginal_job = np.empty((len(groups), n_repeats), dtype=int)
    conditional_jobs = [[] for _ in groups]
    for g, seq in enumerate(group_seeds):
        rng = np.random.default_rng(seq)
        pair_seeds = seq.spawn(n_repeats)
        rows = np.flatnonzero(inverse == g)
        size = int(term_size[g])
        subsampled = rows.shape[0] > size
        for r in range(n_repeats):
            seed = pair_seeds[r if subsampled else 0]
            # Sorted, so a subset of every row is X itself.
            marginal_rows = np.sort(rng.choice(n, size, replace=False))
            if subsampled or r == 0:
                own = _coupled_subsample(rows, size, marginal_rows, rng) if subsampled else rows
                conditional_jobs[g].append(len(jobs))
                jobs.append((own, seed))
            if np.array_equal(marginal_rows, jobs[conditional_jobs[g][-1]][0]):
                marginal_job[g, r] = conditional_jobs[g][-1]  # same rows, same seed
            else:
                marginal_job[g, r] = len(jobs)
                jobs.append((marginal_rows, seed))
        if not subsampled:
            # its one term counted once a repeat, so that its mean rounds as the
            # marginal mean of n_repeats equal terms does (constant y: exactly 0)
            conditional_jobs[g] *= n_repeats

    place = placement_of(X)
    run = Parallel(n_jobs=place.term_jobs(X, n_jobs), return_as="generator")(
        delayed(term)(place.take(X, rows, pairwise), seed) for rows, seed in jobs
    )
    out = list(progress(run, total=len(jobs), desc=desc, verbose=verbose))

    entropies = np.array([o[0] for o in out])
    conditional = entropies[np.array(conditional_jobs)]
    marginal = entropies[marginal_job]
    probe_variance = np.zeros((len(groups), *entropies.shape[1:]))
    for g in range(len(groups)):
        if term_size[g] == sizes[g]:  # not subsampled: the group's terms share one seed
            probe_variance[g] = _shared_probe_variance(
                out, entropies, conditional_jobs[g][0], marginal_job[g]
            )
    widest = None
    for j in np.unique(marginal_job):
        diag = out[j][1]
        if diag is not None and (widest is None or diag.n_samples > widest.n_samples):
            widest = diag
    return groups, sizes, conditional, marginal, widest, probe_variance


def _shared_probe_variance(out, entropies, conditional_job: int, marginal_jobs) -> float:
    """The variance of a group's term from the slq probe noise its repeats share.

    All the group's terms use one seed, hence the same probes. Leaving probe
    i out of every term at once gives jackknife replicates of
    ``mean_r marginal_r - conditional``, whose variance is the probe noise
    of the group's term given its subsets. Part of it, the noise that
    differs between repeats, is already in the spread over the repeats
    (:func:`mi_result`); it is estimated from the replicates of each
    repeat's deviation from the repeats' mean (its variance is that part
    times ``(n_repeats - 1) / n_repeats``) and taken out, so it is not
    counted twice. A term without replicates (exact) is constant.
    """
    jobs = [*marginal_jobs, conditional_job]
    jacks = [out[j][2] if len(out[j]) > 2 else np.empty(0) for j in jobs]
    k = max(jack.shape[0] for jack in jacks)
    n_repeats = len(marginal_jobs)
    if k < 2 or n_repeats < 2:
        return 0.0
    rep = np.array(
        [
            jack if jack.shape[0] == k else np.broadcast_to(entropies[j], (k, *entropies[j].shape))
            for j, jack in zip(jobs, jacks)
        ]
    )
    marginal, conditional = rep[:-1], rep[-1]
    shared = jackknife_std(marginal.mean(axis=0) - conditional) ** 2
    deviations = marginal - marginal.mean(axis=0)
    in_spread = np.mean([jackknife_std(d) ** 2 for d in deviations], axis=0) / (n_repeats - 1)
    return shared - in_spread


def mi_result(
    groups, sizes, conditional_all, marginal_all, bandwidth, probe_variance=None
) -> DSMIResult:
    """The MI and its standard error from the per-repeat terms of :func:`matched_subset_mi`.

    ``conditional_all`` and ``marginal_all`` have shape (n_groups, n_repeats).
    ``MI = mean_r mi_r`` with ``mi_r = sum_g p_g (marginal[g, r] -
    conditional[g, r])``. Given the data (and slq's probes where a group's
    terms share them), the ``mi_r`` are independent and identically
    distributed over r: each repeat draws its own subsets. So the standard
    error is ``std(mi_r, ddof=1) / sqrt(n_repeats)``, plus, in quadrature,
    ``sum_g p_g^2 probe_variance[g]`` for the probe noise the repeats share
    (the law of total variance; see :func:`_shared_probe_variance`).

    It covers the estimator's own randomness: the random subsets, the
    subsamples of groups above ``max_samples``, and slq's probes. It does
    not cover the data's sampling variability (another sample of the same
    population gives another MI; bootstrap or cross-validate for that), nor
    a bias of the estimator. With ``n_repeats=1`` it is NaN: one repeat has
    no spread to estimate it from.
    """
    p = sizes / sizes.sum()
    marginal = marginal_all.mean(axis=1)
    conditional = conditional_all.mean(axis=1)
    n_repeats = marginal_all.shape[1]
    if n_repeats < 2:
        std = float("nan")
    else:
        per_repeat = p @ (marginal_all - conditional_all)
        var = per_repeat.var(ddof=1) / n_repeats
        if probe_variance is not None:  # estimated: clipped where its noise makes it negative
            var += max(float(np.dot(p**2, probe_variance)), 0.0)
        std = float(np.sqrt(var))
    return DSMIResult(
        mutual_information=float(np.dot(p, marginal - conditional)),
        mutual_information_std=std,
        entropy=float(np.dot(p, marginal)),
        conditional_entropy=float(np.dot(p, conditional)),
        groups=groups,
        group_sizes=sizes,
        conditional=conditional,
        marginal=marginal,
        marginal_std=marginal_all.std(axis=1),
        bandwidth=bandwidth,
    )


def compute_dsmi(
    X,
    y: np.ndarray,
    params: EntropyParams,
    *,
    random_state=None,
    n_jobs=None,
) -> DSMIResult:
    """DSMI of validated ``X`` with group labels ``y`` and validated parameters.

    ``DSMI = sum_g p_g (DSE(X*_g) - DSE(X | y=g))``: one bandwidth resolved on
    the whole X serves every term (see :func:`matched_subset_mi`). No
    warning is raised here: the result carries the diagnostics of the
    largest marginal subset's kernel, and the public entry point warns from
    them (:func:`~skdse._validation.warn_if_degenerate`).

    ``t="auto"``: one t serves every term, the knee of X's DSE profile as
    DSMI measures it, ``sum_g p_g DSE(X*_g)`` (the ``entropy`` of the result)
    at the times :data:`~skdse._engine.knee.KNEE_TIMES`. Each term's
    spectrum gives its own profile, so no further eigensolver runs (the
    knee of the whole X's spectrum would cost one more, and the largest,
    eigensolve).
    """
    n_groups = len(np.unique(y))
    bw_seed, *group_seeds = seed_sequence(random_state).spawn(1 + n_groups)
    params = replace(params, seeded=random_state is not None)
    place = placement_of(X)
    if not params.uses_bandwidth:
        sigma = None  # the adaptive kNN kernel and a precomputed affinity have no single width
    else:
        bw_rng = np.random.RandomState(bw_seed.generate_state(1)[0])
        sigma = place.resolve_bandwidth(X, params.bandwidth, random_state=bw_rng)
    sizes = np.unique(y, return_counts=True)[1]
    term_sizes = sizes if params.max_samples is None else np.minimum(sizes, params.max_samples)
    largest = int(term_sizes.max())
    if resolve_solver(largest, params) == "exact":
        check_dense_fits(largest, itemsize=params.itemsize, available=place.client_memory(X))
    # the terms running at once share n_jobs's CPUs for their matrix-free products
    threads = threads_per_task(n_jobs, n_groups * (1 + params.n_repeats))
    auto = params.t == "auto"  # each term gives its profile; the knee is picked below
    term = functools.partial(
        _dse_term,
        sigma=sigma,
        params=replace(params, verbose=0, n_jobs=threads),
        ts=KNEE_TIMES if auto else None,
    )
    groups, sizes, conditional, marginal, widest, probe_variance = matched_subset_mi(
        X,
        y,
        term,
        n_repeats=params.n_repeats,
        max_samples=params.max_samples,
        group_seeds=group_seeds,
        n_jobs=n_jobs,
        verbose=params.verbose,
        desc="DSMI terms",
        pairwise=params.pairwise,
    )
    t = params.t
    if auto:  # the knee of the size-matched marginal profile serves every term
        k = knee_index(KNEE_TIMES, np.dot(sizes / sizes.sum(), marginal.mean(axis=1)))
        t = float(KNEE_TIMES[k])
        conditional, marginal = conditional[:, :, k], marginal[:, :, k]
        probe_variance = probe_variance[:, k]
    solvers = sorted({resolve_solver(int(size), params) for size in term_sizes})
    return replace(
        mi_result(groups, sizes, conditional, marginal, sigma, probe_variance),
        n_samples_used=int(term_sizes.sum()),
        solver="+".join(solvers),
        diagnostics=widest,
        t=t,
    )


@releases_device_memory
@validated(ENTROPY, PARTITION, prefer_skip_nested_validation=False)  # a user's clusterer
def diffusion_spectral_mutual_information(
    X,
    y,
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
    flatten=ENTROPY.flatten,
    verbose=ENTROPY.verbose,
    memory=ENTROPY.memory,
    y_type=PARTITION.y_type,
    n_bins=PARTITION.n_bins,
    n_clusters=PARTITION.n_clusters,
    clusterer=PARTITION.clusterer,
    random_state=ENTROPY.random_state,
    n_jobs=ENTROPY.n_jobs,
    return_std=ENTROPY.return_std,
) -> float | tuple[float, float]:
    """Diffusion spectral mutual information (DSMI) between X and labels y.

    ``DSMI(X; y) = sum_g p_g (DSE(X*_g) - DSE(X | y = g))``: for each class g
    (with frequency ``p_g``), the DSE of that class's rows is compared with
    the mean DSE of ``n_repeats`` uniform random subsets of X of the same
    size, since DSE depends on the number of points. One bandwidth, resolved
    on the whole X, is used for every term.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features) or (n_samples, n_samples)
        The representation (NumPy, CuPy, PyTorch, or a row-chunked dask
        array, see :doc:`/dask`); with ``affinity="precomputed"``, the
        affinity between the samples (or ``scipy.sparse``), each term
        taking the principal sub-matrix of its points.
    y : array-like of shape (n_samples,) or (n_samples, n_ref_features)
        The reference: discrete labels (integers, strings, booleans), a
        continuous scalar per sample (binned), or a continuous vector per
        sample such as the flattened input images (clustered); see
        :func:`partition_reference`. Precomputed cluster labels are discrete
        labels: pass them as y.
    affinity : {"gaussian", "knn", "precomputed"}, default="gaussian"
        The kernel; see :func:`diffusion_spectral_entropy`. With
        ``"precomputed"`` a class's sub-affinity must leave no point with a
        zero row (give the affinity a positive diagonal).
    bandwidth : float, "scale" or "median", default="scale"
        Width of the Gaussian affinity, ignored for the ``"knn"`` and
        ``"precomputed"`` affinities; see
        :func:`diffusion_spectral_entropy` (``"knn"`` is deprecated: it
        means ``affinity="knn"``).
    t : float or "auto", default=1
        Diffusion time of every term. ``"auto"``: the knee of X's DSE
        profile as DSMI measures it (the size-matched marginal
        ``sum_g p_g DSE(X*_g)`` at t = 1 to 100, from the terms' own spectra),
        by the rule of :func:`diffusion_spectral_entropy`; one t for every
        term, so DSMI stays a difference of entropies at one diffusion time.
    base : float, default=2
        Logarithm base, > 1 (2 gives bits).
    order : float, default=1
        Rényi order of every entropy term (1: Shannon's; ``numpy.inf``: the
        min-entropy); see :func:`diffusion_spectral_entropy`.
    n_repeats : int, default=5
        Random subsets averaged for each class's marginal term.
    max_samples : int or None, default=10000
        Most rows any one term is computed on; a larger class and its
        matched subsets are subsampled to this size.
    solver : {"auto", "exact", "slq"}, default="auto"
        Spectrum solver of every term; see :func:`diffusion_spectral_entropy`.
    operator, n_neighbors, neighbors, n_lanczos_steps, n_probes, n_deflate, backend, dtype
        As in :func:`diffusion_spectral_entropy`.
    flatten : bool, default=False
        Reshape an N-D X (n_samples, d1, d2, ...) to (n_samples, -1) where it
        lives; see :func:`diffusion_spectral_entropy`.
    verbose : int, default=0
        Above 0, a progress bar over the terms (tqdm, if installed).
    memory : str, path or joblib.Memory, default=None
        Cache of each term's spectrum on disk (see
        :func:`diffusion_spectral_entropy`).
    y_type : {"auto", "discrete", "continuous"}, default="auto"
        How to read y; ``"auto"`` uses scikit-learn's ``type_of_target``.
    n_bins : int, default=10
        Equal-width bins of a min-max scaled continuous scalar y.
    n_clusters : int, default=10
        Clusters of the default spectral clustering of a vector y.
    clusterer : scikit-learn clusterer or None, default=None
        Replaces the default spectral clustering of a vector y.
    random_state : int, RandomState instance or None, default=None
        Seeds the random subsets (through ``numpy.random.SeedSequence``, so
        the result does not depend on ``n_jobs``).
    n_jobs : int or None, default=None
        Terms (each class and each repeat) computed in parallel by joblib
        (for host arrays; on a GPU the terms run in turn); None means 1
        unless a ``joblib.parallel_config`` context sets another number, -1
        every usable CPU (CPU affinity and cgroup quota). The terms running
        at once share the CPUs for slq's matrix-free products: terms x
        threads stay within n_jobs (None: within the usable CPUs). The
        result does not depend on n_jobs beyond float64 rounding.
    return_std : bool, default=False
        Also return the standard error of DSMI over the estimator's own
        randomness (the random subsets over the ``n_repeats`` repeats, the
        subsamples of classes above ``max_samples``, slq's probes). It does
        not cover the data's sampling variability (bootstrap or
        cross-validate for that). NaN when ``n_repeats=1``: one repeat has no
        spread. The repeats are few, so for a 95% interval multiply by
        ``scipy.stats.t.ppf(0.975, n_repeats - 1)`` (2.78 for 5), not 1.96.

    Returns
    -------
    mi : float
        DSMI in units of ``log(base)``. Not clipped at 0: small negative values
        mean no detectable information.
    std : float
        Its standard error, only when ``return_std=True``.

    See Also
    --------
    DiffusionSpectralMI : the estimator, which also keeps the per-class terms.

    Examples
    --------
    >>> import numpy as np
    >>> from skdse import diffusion_spectral_mutual_information
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1, 2], 50)
    >>> X = rng.normal(size=(150, 4)) + 6 * y[:, None]
    >>> mi = diffusion_spectral_mutual_information(X, y, random_state=0)
    >>> mi > 0.5
    True
    >>> mi, std = diffusion_spectral_mutual_information(X, y, random_state=0, return_std=True)
    >>> bool(0 <= std < 0.1)
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
        verbose=verbose,
        memory=memory,
        n_jobs=n_jobs,
    )
    X = check_X(X, backend=params.backend, affinity=params.affinity, flatten=flatten)
    labels = partition_reference(
        y,
        n_samples=X.shape[0],
        y_type=y_type,
        n_bins=n_bins,
        n_clusters=n_clusters,
        clusterer=clusterer,
        random_state=random_state,
    )
    res = compute_dsmi(X, labels, params, random_state=random_state, n_jobs=n_jobs)
    warn_if_degenerate(res.diagnostics, res.bandwidth)
    if return_std:
        return res.mutual_information, res.mutual_information_std
    return res.mutual_information
