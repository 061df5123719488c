"""The spectrum of a diffusion operator: which solver, which operator, in what memory.

:func:`solve` is the one place that decides, for NumPy, CuPy, PyTorch and
Dask alike (their differences are their :class:`~skdse._engine.placement.Placement`'s):

- the solver: exact eigenvalues up to :data:`AUTO_EXACT_MAX` points (and
  wherever slq's vectors would span the space), stochastic Lanczos
  quadrature above (:func:`resolve_solver`);
- slq's operator: the user's own matrix for ``affinity="precomputed"``
  (multiplied as given, no copy); the kNN graph for ``affinity="knn"``; for the Gaussian
  affinity the stored float32 operator while it takes under half the memory
  it lives in, else kernel blocks recomputed per product (:func:`wants_dense`);
- slq's Lanczos: with the full Krylov basis (full reorthogonalisation) while
  it takes under half the memory its vectors live in, else the three-term
  recurrence alone (:func:`uses_full_basis`);
- slq's deflation with ``n_deflate="auto"``: :data:`DEFLATE_START` directions,
  doubled while the estimate's standard error is over its share of slq's
  accuracy target (:func:`precise_enough`, :func:`deflation_steps`);
- memory: refused up front (:class:`~skdse._engine.resources.InsufficientMemoryError`)
  when the operator or slq's Lanczos vectors cannot fit, with what to do instead.
"""

from __future__ import annotations

import copy
import dataclasses
from types import SimpleNamespace
from typing import Protocol

import numpy as np

from .kernels import KernelDiagnostics
from .operators import Operator
from .placement import placement_of
from .resources import (
    InsufficientMemoryError,
    available_memory_bytes,
    check_dense_fits,
    check_memory,
    cpu_budget,
)
from .slq import QuadratureSpectrum, slq_spectrum
from .spectrum import ExactSpectrum, exact_eigenvalues

#: Largest N the "auto" solver computes exactly. Measured on a 2-core machine
#: (benchmarks/bench_slq_accuracy.py --crossover): exact / slq time was 0.77 at
#: N = 2000 and 1.53 at N = 3000, so slq (at its default accuracy) wins above ~2500.
AUTO_EXACT_MAX = 2500


class SolverSettings(Protocol):
    """The settings :func:`solve` reads (``skdse._params.EntropyParams`` has them)."""

    affinity: str
    solver: str
    operator: str
    n_neighbors: int
    neighbors: str
    n_lanczos_steps: int
    n_probes: int
    n_deflate: int | str
    dtype: str
    verbose: int
    n_jobs: int | None
    seeded: bool
    t: float | str
    order: float


#: Directions ``n_deflate="auto"`` deflates first (and the memory checks count).
DEFLATE_START = 64
#: The most directions ``n_deflate="auto"`` deflates.
DEFLATE_MAX = 1024
#: slq's accuracy target in bits: max(ACCURACY_BITS, ACCURACY_RELATIVE x DSE).
ACCURACY_BITS, ACCURACY_RELATIVE = 0.02, 0.005
#: ``n_deflate="auto"`` deflates more while slq's standard error is over this
#: fraction of the target (so that even 4-sigma draws stay within it).
ERROR_SHARE = 0.25


def precise_enough(spectrum: QuadratureSpectrum, settings: SolverSettings) -> bool:
    """Whether slq's jackknife standard error, at the diffusion time and order asked
    for (t = 1 for ``t="auto"``), is at most :data:`ERROR_SHARE` of the accuracy target
    max(:data:`ACCURACY_BITS`, :data:`ACCURACY_RELATIVE` x DSE).

    Its noise is that of the probes on what deflation left: where a block of
    comparable eigenvalues outnumbers the deflated directions (a wide Gaussian
    kernel on D = 128 data has about D + 2 of them), the probes see it and the
    error grows; deflating the block removes it (measured: uniform cube, N =
    2000, D = 128, sigma = 10, t = 1: 0.011 bits spread with 64 directions,
    0.0002 with 128).

    Examples
    --------
    >>> import numpy as np
    >>> from types import SimpleNamespace
    >>> from skdse._engine.operators import dense_operator
    >>> from skdse._engine.slq import slq_spectrum
    >>> from skdse._engine.solve import precise_enough
    >>> op = dense_operator(np.random.default_rng(0).normal(size=(300, 3)), 1.0, np.float64)
    >>> at_t1 = SimpleNamespace(t=1.0, order=1.0)
    >>> def rule(n_deflate, n_probes):  # DSE ~5 bits: the target is 0.025 bits, its share 0.006
    ...     return slq_spectrum(op, n_steps=20, n_probes=n_probes, n_deflate=n_deflate,
    ...                         rng=np.random.default_rng(0))
    >>> precise_enough(rule(16, 8), at_t1), precise_enough(rule(64, 32), at_t1)  # SE 0.05, 0.003
    (False, True)
    """
    t = 1.0 if isinstance(settings.t, str) else float(settings.t)
    bits = spectrum.entropy(t, 2.0, settings.order)
    error = spectrum.entropy_std(t, 2.0, settings.order)
    return not error > ERROR_SHARE * max(ACCURACY_BITS, ACCURACY_RELATIVE * bits)


def with_deflation(settings: SolverSettings, n_deflate: int) -> SolverSettings:
    """``settings`` with ``n_deflate`` directions (an int)."""
    if dataclasses.is_dataclass(settings):
        return dataclasses.replace(settings, n_deflate=n_deflate)
    return SimpleNamespace(**{**vars(settings), "n_deflate": n_deflate})


def first_deflation(settings: SolverSettings) -> int:
    """The directions slq deflates first: :data:`DEFLATE_START` for
    ``n_deflate="auto"``, else the user's (what memory plans count)."""
    return DEFLATE_START if settings.n_deflate == "auto" else int(settings.n_deflate)


def slq_spans_space(n: int, settings: SolverSettings) -> bool:
    """Whether slq's vectors on ``n`` points are as many as the space has dimensions.

    slq runs ``n_deflate + n_probes`` Lanczos recurrences besides the known
    top eigenvector. Once ``1 + n_deflate + n_probes >= n``, the same work
    could span the whole space, so an eigendecomposition is exact and no
    dearer, while slq itself still carries its probes' random error: with
    the defaults it was off by up to 0.36 bits on 2 points, 0.10 on 3, 0.03
    on 8-16 (measured, Gaussian data, 12 draws each).
    """
    return n <= 1 + first_deflation(settings) + settings.n_probes


def resolve_solver(n: int, settings: SolverSettings) -> str:
    """``"exact"`` or ``"slq"`` for an operator of size ``n``: the solver that runs.

    ``solver="slq"`` (and ``"auto"``) computes exactly where slq's vectors would
    span the space anyway (:func:`slq_spans_space`), such as small DSMI classes.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from skdse._engine.solve import resolve_solver
    >>> s = SimpleNamespace(solver="auto", n_deflate=64, n_probes=32)
    >>> resolve_solver(1000, s), resolve_solver(5000, s)
    ('exact', 'slq')
    """
    if settings.solver == "exact" or slq_spans_space(n, settings):
        return "exact"
    if settings.solver == "slq":
        return "slq"
    return "exact" if n <= AUTO_EXACT_MAX else "slq"


#: slq reorthogonalises against the full Krylov basis while the basis takes
#: under this fraction of the memory its vectors live in; above, it runs the
#: three-term recurrence alone (:func:`~skdse._engine.slq.lanczos_quadrature`).
FULL_BASIS_FRACTION = 0.5
#: Vectors per recurrence that the three-term recurrence holds at once
#: (the previous, the current, the new one and the operator's product).
PLAIN_LANCZOS_VECTORS = 4


def krylov_bytes(n: int, settings: SolverSettings, full_basis: bool = True) -> int:
    """Memory of slq's Lanczos vectors on ``n`` points.

    With ``full_basis`` (full reorthogonalisation) every step's vectors are
    kept: it counts the recurrences and steps that run (``slq_spectrum``
    deflates at most ``n - 2`` directions and ``lanczos_quadrature`` takes
    at most ``n - 1`` steps, whatever larger values were asked for).
    Without, :data:`PLAIN_LANCZOS_VECTORS` per recurrence, whatever the steps.
    """
    n_deflate = max(0, min(first_deflation(settings), n - 2))
    n_steps = max(1, min(settings.n_lanczos_steps, n - 1))
    per_recurrence = n_steps if full_basis else PLAIN_LANCZOS_VECTORS
    return 8 * n * (settings.n_probes + n_deflate) * per_recurrence


def uses_full_basis(n: int, settings: SolverSettings, available=None) -> bool:
    """Whether slq keeps the full Krylov basis: while it takes under
    :data:`FULL_BASIS_FRACTION` of ``available`` (None: this machine's memory).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from skdse._engine.solve import uses_full_basis
    >>> s = SimpleNamespace(n_deflate=64, n_probes=32, n_lanczos_steps=30)
    >>> uses_full_basis(10**5, s, available=2**40), uses_full_basis(10**5, s, available=2**30)
    (True, False)
    """
    have = available if available is not None else available_memory_bytes()
    return have is None or krylov_bytes(n, settings) < FULL_BASIS_FRACTION * have


def check_krylov_fits(
    n: int, settings: SolverSettings, available=None, full_basis: bool = True
) -> None:
    check_memory(
        krylov_bytes(n, settings, full_basis),
        f"SLQ on {n} points",
        "Lower n_lanczos_steps, n_probes or n_deflate, or pass a smaller max_samples.",
        available=available,
    )


def dense_slq_bytes(n: int) -> int:
    """Memory of slq's dense float32 operator on ``n`` points, with its construction's peak."""
    return int(4.4 * n * n)


def wants_dense(settings: SolverSettings, need: int, have: int | None) -> bool:
    """Whether slq multiplies with a stored operator of ``need`` bytes, given ``have``.

    ``operator="auto"`` stores it while it takes under half the memory it
    lives in (this machine, the GPU, or a Dask cluster's workers).
    """
    return settings.operator == "dense" or (
        settings.operator == "auto" and (have is None or need < 0.5 * have)
    )


def knn_threads(settings: SolverSettings) -> int:
    """Threads of an approximate kNN search: one when the user gave ``random_state``
    (``settings.seeded``), so that the graph is the same on every machine (as in
    UMAP); else every CPU ``n_jobs`` allows, the graph then depending on their number.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from skdse._engine.solve import knn_threads
    >>> knn_threads(SimpleNamespace(seeded=True, n_jobs=4))
    1
    >>> knn_threads(SimpleNamespace(seeded=False, n_jobs=4))
    4
    """
    return 1 if settings.seeded else cpu_budget(settings.n_jobs)


def _knn_operator(place, X, settings: SolverSettings, rng) -> Operator:
    """The kNN operator; an approximate search is seeded from a child of ``rng``
    (spawned, so the probes drawn from ``rng`` afterwards are the same either way;
    NumPy < 1.25 has no ``spawn``: a copy of ``rng`` then) and runs on
    :func:`knn_threads` threads."""
    seed = None
    if rng is not None and settings.neighbors != "exact":
        child = rng.spawn(1)[0] if hasattr(rng, "spawn") else copy.deepcopy(rng)
        seed = int(child.integers(2**31))
    return place.knn_operator(
        X, settings.n_neighbors, settings.neighbors, seed, knn_threads(settings)
    )


def _slq_operator(place, X, sigma, settings: SolverSettings, rng, full: bool, vectors) -> Operator:
    """The operator slq multiplies with, memory checked before it is built
    (slq's vectors with the full Krylov basis or without: ``full``; ``vectors``:
    the memory they live in)."""
    n = X.shape[0]
    krylov = krylov_bytes(n, settings, full)
    if settings.affinity == "precomputed":  # G is stored already: multiply with it
        check_krylov_fits(n, settings, vectors, full)
        return place.affinity_operator(X, "float64")
    if settings.affinity == "knn":
        check_krylov_fits(n, settings, vectors, full)
        return _knn_operator(place, X, settings, rng)
    if not place.operator_on_client:  # the vectors and the operator on the cluster
        check_krylov_fits(n, settings, vectors, full)
    dense = dense_slq_bytes(n) + krylov  # the vectors share the operator's memory
    if wants_dense(settings, dense, place.operator_memory(X)):
        if place.operator_on_client:
            check_memory(
                dense,
                f"SLQ on a dense {n} x {n} operator",
                "Pass operator='matrix_free' (kernel recomputed per product) or a smaller "
                "max_samples.",
                available=vectors,
            )
        return place.dense_operator(X, sigma)
    if place.operator_on_client:
        check_krylov_fits(n, settings, vectors, full)
    return place.matrix_free_operator(X, sigma, cpu_budget(settings.n_jobs))


def deflation_steps(spectrum, n: int, settings: SolverSettings, run, memory):
    """``n_deflate="auto"``: slq rerun with twice the deflated directions while its
    estimate is not :func:`precise_enough`, up to :data:`DEFLATE_MAX` directions and
    while the directions and probes do not span the space and their vectors fit in
    ``memory()`` (the memory slq's vectors live in, now; None: this machine's), as the
    up-front check counts them; the matrix products of every run are counted.

    ``run(settings, full_basis)`` runs slq with ``settings``' directions, drawing
    its random vectors from the same generator, after the ones before.
    """
    matvecs = spectrum.n_matvecs
    while not precise_enough(spectrum, settings):
        more = with_deflation(settings, 2 * settings.n_deflate)
        if more.n_deflate > DEFLATE_MAX or slq_spans_space(n, more):
            break
        have = memory()
        full = uses_full_basis(n, more, have)
        try:  # where the up-front check would have refused these vectors, stop
            check_krylov_fits(n, more, have, full)
        except InsufficientMemoryError:
            break
        settings = more
        spectrum = run(settings, full)
        matvecs += spectrum.n_matvecs
    return dataclasses.replace(spectrum, n_matvecs=matvecs)


def solve(
    X, sigma: float | None, settings: SolverSettings, rng: np.random.Generator | None = None
) -> tuple[ExactSpectrum | QuadratureSpectrum, KernelDiagnostics]:
    """Spectrum of the diffusion operator of validated ``X`` and its kernel's diagnostics.

    ``settings.affinity`` chooses the kernel: ``sigma`` is the Gaussian
    affinity's width (a float), None for the adaptive kNN kernel and for
    ``"precomputed"``, where X is the (n, n) affinity itself. Every
    entropy (DSE, each DSMI term) comes through here. X may live on any
    array-API backend or on a Dask cluster; the spectrum comes back on the
    host, and the device's memory pool is released afterwards.

    Examples
    --------
    >>> import numpy as np
    >>> from types import SimpleNamespace
    >>> from skdse._engine.solve import solve
    >>> s = SimpleNamespace(affinity="gaussian", solver="exact", operator="auto", n_neighbors=15,
    ...                     n_lanczos_steps=30, n_probes=32, n_deflate=64, dtype="float64",
    ...                     verbose=0, n_jobs=None, neighbors="auto")
    >>> spectrum, diagnostics = solve(np.random.default_rng(0).normal(size=(50, 3)), 1.0, s)
    >>> spectrum.eigenvalues.shape, round(float(spectrum.eigenvalues[0]), 12)
    ((50,), 1.0)
    """
    place = placement_of(X)
    n = X.shape[0]
    adaptive = settings.n_deflate == "auto"
    settings = with_deflation(settings, first_deflation(settings))
    if settings.affinity != "precomputed" and (n == 1 or place.all_rows_equal(X)):
        # One distinct point: A = 11^T / n exactly, spectrum {1, 0, ..., 0}.
        eigenvalues = np.zeros(n)
        eigenvalues[0] = 1.0
        return ExactSpectrum(eigenvalues), KernelDiagnostics(n, 1.0, n - 1.0, all_duplicates=True)
    op = None
    try:
        if resolve_solver(n, settings) == "exact":
            itemsize = np.dtype(settings.dtype).itemsize
            check_dense_fits(n, itemsize=itemsize, available=place.client_memory(X))
            if settings.affinity == "precomputed":
                op = place.affinity_operator(X, settings.dtype)
            elif settings.affinity == "knn":
                op = _knn_operator(place, X, settings, rng)
            else:
                op = place.exact_operator(X, sigma, settings.dtype)
            return ExactSpectrum(exact_eigenvalues(op.toarray())), op.diagnostics
        rng = rng if rng is not None else np.random.default_rng()

        def vector_memory():  # where slq's vectors live, as free now
            return place.vector_memory(X, host_operator=settings.affinity == "knn")

        vectors = vector_memory()
        full = uses_full_basis(n, settings, vectors)
        op = _slq_operator(place, X, sigma, settings, rng, full, vectors)
        space = place.vector_space(op)

        def run(settings, full):
            return place.restarting(
                lambda r: slq_spectrum(
                    op,
                    n_steps=settings.n_lanczos_steps,
                    n_probes=settings.n_probes,
                    n_deflate=settings.n_deflate,
                    rng=r,
                    verbose=settings.verbose,
                    reorthogonalize=full,
                    space=space,
                ),
                rng,
            )

        spectrum = run(settings, full)
        if adaptive:
            spectrum = deflation_steps(spectrum, n, settings, run, vector_memory)
        return spectrum, op.diagnostics
    finally:
        op = None
        place.release(X)
