"""Dask arrays: the kernel built block by block on a cluster.

X arrives as a ``dask.array`` chunked by rows. Kernel blocks for every pair of
row chunks are built with ``dask.array.blockwise`` (no task ever holds the
N x N kernel), degrees come from block reductions and the symmetric
normalisation is applied blockwise. The exact solver then gathers the
normalised operator (it has to fit one machine). slq multiplies on the
cluster: with the blocks persisted there while they fit in half the
cluster's memory (:class:`DaskOperator`), else with kernel blocks recomputed
from X for every product (:class:`DaskMatrixFreeOperator`). The ``"knn"``
kernel's neighbour search runs blockwise on the cluster and its sparse graph
(O(N k)) is gathered. The Lanczos vectors themselves live on the client.
Computations run on the scheduler that ``dask.config`` or the current
``distributed.Client`` points at. Dask is imported only when a dask array
arrives.

Lost workers. Every computation of a fit on a ``distributed`` cluster goes
through :func:`compute_on_cluster`. What the cluster computed (X's chunks
from a graph or storage, the persisted kernel blocks, the augmented
coordinates) has lineage: when the worker holding it dies, the scheduler
recomputes it from its tasks. The client's vectors (each Lanczos product's
right-hand side) are scattered, so that they stay out of the task graph, and
scattered data has no lineage: the scheduler forgets it with its worker and
cancels the computations that need it. We retry such a computation,
re-sending the client's vectors, up to ``LOSS_RETRIES`` times. Retrying was
chosen over replicating the vectors (every product would travel once per
copy, and Dask's memory manager drops extra replicas) and over putting them
in the graph (a large graph through the scheduler on every product): it
costs nothing while no worker dies, and a product is a pure function of the
vectors and the cluster's recomputable blocks, so the retried product, and
the fit, are the same as without the loss. While no worker is left, a
computation waits up to the grace period (``skdse.worker-grace-period`` in
``dask.config``, default 60 s) for one to join, then fails with
:class:`NoWorkerLeft` (a ``RuntimeError``) naming the scheduler; it never waits
forever. Data that a user scattered from the client (``scatter_rows``) has
no lineage either: if every worker holding a chunk of X dies, the fit fails
after the retries with :class:`ClusterDataLost`, and whoever holds X sends it
again (the command line does, once).
"""

from __future__ import annotations

import math
import time
from concurrent.futures import CancelledError

import numpy as np

from .backend import namespace, to_backend
from .inputs import check_affinity_values, check_square, symmetry_rtol
from .kernels import (
    KernelDiagnostics,
    half_total_variance,
    kernel_block,
    kernel_coordinates,
    median_rows,
    resolve_bandwidth,
    scale_exponent,
    scale_sigma,
)
from .knn import KnnOperator, knn_graph, nearest_rows
from .operators import AffinityOperator, DenseOperator, block_row_products
from .resources import available_memory_bytes

#: Columns of a recomputed kernel tile inside one task (cache-sized).
TILE_COLS = 2048

#: Times a computation is retried after the cluster lost data it cannot recompute.
LOSS_RETRIES = 3

#: Seconds between checks that a worker is left, while a computation runs.
POLL_SECONDS = 1.0

#: ``dask.config`` key: how long to wait for a worker to join when none is left.
GRACE_PERIOD_KEY = "skdse.worker-grace-period"


class ClusterError(RuntimeError):
    """The Dask cluster could not finish a computation of a fit."""


class NoWorkerLeft(ClusterError):
    """No worker joined the scheduler within the grace period."""


class ClusterDataLost(ClusterError):
    """The cluster kept losing data it cannot recompute (scattered from the client)."""


def check_dask_X(X, dtype: str = "float64", input_name: str = "X"):
    """The checks of ``check_array`` for a dask array, with one pass over the data."""
    if X.ndim != 2:
        raise ValueError(
            f"Expected 2D array, got {X.ndim}D array instead for {input_name} (a dask array). "
            "Reshape your data."
        )
    if any(math.isnan(c) for c in X.chunks[0]) or any(math.isnan(c) for c in X.chunks[1]):
        raise ValueError(
            f"{input_name} is a dask array with unknown chunk sizes; call "
            f"{input_name}.compute_chunk_sizes() (or build it with known chunks) first."
        )
    n, d = X.shape
    if n < 2:
        raise ValueError(f"Found array with {n} sample(s) while a minimum of 2 is required.")
    if d < 1:
        raise ValueError(f"Found array with 0 feature(s) for {input_name}.")
    if X.dtype.kind == "c":
        raise ValueError(f"Complex data not supported for {input_name}.")
    if X.dtype.kind not in "fiub":
        raise TypeError(f"{input_name} must hold real numbers, got dtype {X.dtype}.")
    X = X.astype(np.dtype(dtype)).rechunk({1: -1})
    finite = X.map_blocks(lambda b: np.array([[np.isfinite(b).all()]]), chunks=(1, 1)).all()
    if not bool(compute_on_cluster(lambda: (finite,))[0]):
        raise ValueError(f"Input {input_name} contains NaN or infinity (found when computing it).")
    return X


def check_dask_affinity(X, input_name: str = "X"):
    """:func:`check_dask_X` for a precomputed affinity, and the checks of
    :func:`~skdse._engine.inputs.check_affinity_values` in one more pass on the cluster."""
    check_square(X.shape, input_name)
    rtol = symmetry_rtol(X.dtype)
    G = check_dask_X(X, "float64", input_name)
    smallest, largest, asymmetry = compute_on_cluster(
        lambda: (G.min(), abs(G).max(), abs(G - G.T).max())
    )
    check_affinity_values(float(smallest), float(largest), float(asymmetry), rtol, input_name)
    return G


def dask_diffusion_operator(X, sigma: float, dtype=np.float64):
    """Lazy normalised operator ``D^-1/2 G D^-1/2`` of a row-chunked dask X, and the degrees.

    Blocks follow X's row chunks in both directions; their exponents come
    from the same :func:`skdse._engine.kernels.kernel_coordinates` as in memory.
    """
    import dask.array as da

    c = kernel_coordinates(X, sigma, np.dtype(dtype))
    L, R = (a.rechunk({1: -1}) for a in (c.L, c.R))
    G = da.blockwise(
        kernel_block,
        "ij",
        L,
        "ik",
        R,
        "jk",
        dtype=dtype,
        concatenate=True,
        method=c.method,
        gamma=c.gamma,
        out_dtype=np.dtype(dtype),
    )
    degrees = G.sum(axis=1, dtype=np.float64)
    s = (1.0 / da.sqrt(degrees)).astype(dtype)
    return G * s[:, None] * s[None, :], degrees


def _current_client():
    """The ``distributed.Client`` computations go to, or None (Dask's local schedulers)."""
    try:
        from distributed import default_client

        return default_client()
    except (ImportError, ValueError):
        return None


def _in_a_task() -> bool:
    from distributed import get_worker

    try:
        get_worker()
    except ValueError:
        return False
    return True


def worker_grace_period() -> float:
    """Seconds a computation waits for a worker to join while none is left."""
    import dask
    from dask.utils import parse_timedelta

    return float(parse_timedelta(dask.config.get(GRACE_PERIOD_KEY, "60s"), default="s"))


def _no_worker_error(client, waited: float) -> NoWorkerLeft:
    address = getattr(client.scheduler, "address", None) or "the scheduler"
    return NoWorkerLeft(
        f"no Dask worker is left on the scheduler at {address}: waited {waited:.0f} s for "
        f"one to join (dask.config '{GRACE_PERIOD_KEY}'). Start workers "
        f"(`dask worker {address}`) or connect to a cluster that has some, and fit again."
    )


def _wait_for_a_worker(client) -> None:
    """Return once the scheduler has a worker; raise after the grace period without one."""
    start = time.monotonic()
    while not client.nthreads():
        waited = time.monotonic() - start
        if waited >= worker_grace_period():
            raise _no_worker_error(client, waited)
        time.sleep(min(0.2, POLL_SECONDS))


def _gather(client, futures) -> list:
    """The futures' results; raise after the grace period while no worker is left."""
    from distributed import wait

    idle_since = None
    while True:
        try:
            wait(futures, timeout=POLL_SECONDS)
            return client.gather(futures)
        except TimeoutError:
            if client.nthreads():
                idle_since = None
                continue
            now = time.monotonic()
            idle_since = now if idle_since is None else idle_since
            if now - idle_since >= worker_grace_period():
                client.cancel(futures)
                raise _no_worker_error(client, now - idle_since) from None


def compute_on_cluster(build) -> tuple:
    """``dask.compute(*build())``, surviving the loss of workers (see the module's notes).

    ``build`` makes the collections, sending the client's data it needs
    (:func:`to_cluster`); it is called again for each retry, so that data
    lost with a worker is sent again. Without a ``distributed`` client,
    Dask's local scheduler computes them once.

    Examples
    --------
    >>> import dask.array as da
    >>> from skdse._engine.dask import compute_on_cluster
    >>> x = da.ones((4, 2), chunks=2)
    >>> float(compute_on_cluster(lambda: (x.sum(),))[0])
    8.0
    """
    import dask

    client = _current_client()
    if client is None or _in_a_task():
        # inside a task (a joblib task on a worker) Dask's own compute secedes
        # from the worker's thread pool: a wait here could deadlock the worker
        return dask.compute(*build())
    from distributed.comm import CommClosedError

    for _ in range(LOSS_RETRIES + 1):
        _wait_for_a_worker(client)
        try:
            futures = client.compute(list(build()))
        except (CancelledError, OSError) as exc:  # sending to a worker that just died
            lost = exc
            continue
        try:
            return tuple(_gather(client, futures))
        except (CancelledError, CommClosedError) as exc:
            # scattered data forgotten with its worker ("lost dependencies",
            # "already forgotten"): send it again. A task's own error is raised.
            lost = exc
    _wait_for_a_worker(client)  # if none is left, that is the error to report
    address = getattr(client.scheduler, "address", None) or "the scheduler"
    raise ClusterDataLost(
        f"the Dask cluster at {address} lost workers during {LOSS_RETRIES + 1} attempts of "
        "one computation, or lost data it cannot recompute (chunks of X scattered from "
        f"the client have no copy elsewhere); last error: {type(lost).__name__}: {lost}"
    ) from lost


def cluster_memory_bytes() -> int | None:
    """Memory of the cluster computations go to: the workers' limits, or this machine's."""
    client = _current_client()
    if client is None:
        return available_memory_bytes()
    workers = client.scheduler_info(n_workers=-1)["workers"].values()
    limits = [w.get("memory_limit") or 0 for w in workers]
    if not limits or 0 in limits:  # no limit set: the workers' machines are unknown
        return available_memory_bytes()
    return int(sum(limits))


def to_cluster(blocks: list[np.ndarray]) -> list:
    """Blocks of the client's data as arguments of cluster tasks, each sent once.

    With a ``distributed`` client they are scattered (futures), so that they
    travel to the workers directly instead of inside the task graph; on
    Dask's local schedulers they are wrapped as delayed values. Each call
    makes new keys (no content hash): a block sent again after a loss must
    not reuse the key of the lost one while the scheduler still forgets it.
    """
    import dask

    client = _current_client()
    if client is None:
        return [dask.delayed(b) for b in blocks]
    return client.scatter(blocks, hash=False)


def _row_blocks(V: np.ndarray, row_chunks) -> list[np.ndarray]:
    stops = np.cumsum(row_chunks)
    return [V[stop - rows : stop] for rows, stop in zip(row_chunks, stops)]


def scatter_rows(V: np.ndarray, row_chunks):
    """A NumPy array of the client's as a dask array whose row chunks were sent once.

    ``row_chunks`` is an int (rows per chunk) or the chunk sizes. Unlike
    ``da.from_array``, the data does not travel inside the task graph.
    """
    import dask.array as da
    from dask.array.core import normalize_chunks

    blocks = _row_blocks(V, normalize_chunks(row_chunks, (V.shape[0],))[0])
    return da.concatenate(
        [da.from_delayed(ref, b.shape, dtype=V.dtype) for ref, b in zip(to_cluster(blocks), blocks)]
    )


class DaskOperator:
    """Normalised operator persisted blockwise on the cluster, for slq (4 N^2 bytes there)."""

    def __init__(self, X, sigma: float):
        import dask

        A, degrees = dask_diffusion_operator(X, sigma, np.float32)
        # persisted: lineage, so the cluster recomputes blocks lost with a worker
        self.A, degrees = dask.persist(A, degrees)
        self.degrees = np.asarray(compute_on_cluster(lambda: (degrees,))[0], dtype=np.float64)
        self.n = X.shape[0]
        self.xp = _numpy_namespace()
        self.diagnostics = KernelDiagnostics.from_degrees(self.degrees)

    def matmat(self, V: np.ndarray) -> np.ndarray:
        V = V.astype(np.float32)
        (AV,) = compute_on_cluster(lambda: (self.A @ scatter_rows(V, self.A.chunks[1]),))
        return np.asarray(AV, dtype=np.float64)

    def toarray(self) -> np.ndarray:
        """The persisted blocks gathered on the client (N x N float32)."""
        return np.asarray(compute_on_cluster(lambda: (self.A,))[0])


class DaskAffinityOperator(AffinityOperator):
    """A precomputed affinity on the cluster (``affinity="precomputed"``), multiplied as given.

    The degrees are one reduction there; each product ``G (s * V)`` runs on
    G's chunks (no copy of G is stored), the scaling by ``s = 1 / sqrt(d)``
    on the client, as in :class:`~skdse._engine.operators.AffinityOperator`.
    ``toarray()`` gathers G in ``dtype`` and normalises it on the client.
    """

    def __init__(self, G, dtype: str = "float64"):
        self.G = G
        self.xp = _numpy_namespace()
        self.n = G.shape[0]
        self.dtype = dtype
        (degrees,) = compute_on_cluster(lambda: (G.sum(axis=1, dtype=np.float64),))
        self._set_degrees(np.asarray(degrees, dtype=np.float64))

    def _product(self, SV: np.ndarray) -> np.ndarray:
        (GV,) = compute_on_cluster(lambda: (self.G @ scatter_rows(SV, self.G.chunks[1]),))
        return np.asarray(GV, dtype=np.float64)

    def _dense(self, dtype: str) -> np.ndarray:
        (G,) = compute_on_cluster(lambda: (self.G.astype(np.dtype(dtype)),))
        return np.array(G, dtype=np.dtype(dtype))


def _pair_product(Li, Rj, SVi, SVj, diagonal: bool, method: str = "float32", gamma: float = 1.0):
    """``(G_ij SV_j, G_ij^T SV_i)`` of one recomputed float32 kernel block (a cluster task).

    On the diagonal the block is whole and only the first product is made
    (the second is empty): :func:`~skdse._engine.operators.block_row_products`.
    """
    shared_from = Rj.shape[0] if diagonal else 0
    return block_row_products(
        Li, Rj, SVi, SVj, shared_from, method, gamma, np.float32, TILE_COLS, _numpy_namespace()
    )


class DaskMatrixFreeOperator:
    """Gaussian operator whose kernel blocks are recomputed on the cluster for every product.

    Memory on the cluster is O(N D) (the augmented coordinates, persisted);
    each product runs one task per pair of row chunks ``i <= j`` (the kernel
    is symmetric, so each block serves ``out_i`` and ``out_j``) and one sum
    per row chunk. Kernel blocks are float32, sums float64, as in
    :class:`skdse._engine.operators.MatrixFreeOperator`.
    """

    def __init__(self, X, sigma: float):
        import dask

        c = kernel_coordinates(X, sigma, np.float32)
        self._method, self._gamma = c.method, c.gamma
        L, R = (a.rechunk({1: -1}) for a in (c.L, c.R))
        # The persisted arrays hold the cluster's copies; the delayed blocks only name them.
        self._persisted = dask.persist(L, R)
        self._L, self._R = (a.to_delayed().ravel() for a in self._persisted)
        self._row_chunks = X.chunks[0]
        self.n = X.shape[0]
        self.xp = _numpy_namespace()
        self._scale = np.ones(self.n)
        self.degrees = self.matmat(np.ones((self.n, 1)))[:, 0]
        self._scale = 1.0 / np.sqrt(self.degrees)
        self.diagnostics = KernelDiagnostics.from_degrees(self.degrees)

    def matmat(self, V: np.ndarray) -> np.ndarray:
        """``S G S V`` with ``S = diag(self._scale)`` (the identity while degrees are computed)."""
        SV = _row_blocks((self._scale[:, None] * V).astype(np.float32), self._row_chunks)
        rows = compute_on_cluster(lambda: self._row_sums(to_cluster(SV)))
        return np.concatenate(rows, axis=0) * self._scale[:, None]

    def toarray(self) -> np.ndarray:
        """A on the client, column by column from products (N x N float64; small N only)."""
        return self.matmat(np.eye(self.n))

    def _row_sums(self, SV: list) -> list:
        """One delayed sum per row chunk of ``G SV``, for ``SV``'s blocks on the cluster."""
        import dask

        nc = len(self._row_chunks)
        contributions: list[list] = [[] for _ in range(nc)]
        for i in range(nc):
            for j in range(i, nc):
                pair = dask.delayed(_pair_product, nout=2)(
                    self._L[i], self._R[j], SV[i], SV[j], i == j, self._method, self._gamma
                )
                contributions[i].append(pair[0])
                if i != j:
                    contributions[j].append(pair[1])
        return [dask.delayed(sum)(c) for c in contributions]


def _knn_pair(Xi, Xj, offset: int, n_neighbors: int, exponent: int):
    """Each row of ``Xi``'s nearest rows of ``Xj`` (global indices), ties broken by value."""
    return nearest_rows(Xi, Xj, n_neighbors, offset, exponent)


def _knn_merge(parts, n_neighbors: int):
    """The ``n_neighbors`` nearest over every block's candidates.

    Ordered as :func:`skdse._engine.knn.nearest_rows` orders them: distance,
    then the rows' value keys, then index, so the result is the in-memory one.
    """
    dist, idx, keys = (np.concatenate([p[c] for p in parts], axis=1) for c in range(3))
    order = np.lexsort((idx, keys, dist), axis=1)[:, :n_neighbors]
    return np.take_along_axis(dist, order, 1), np.take_along_axis(idx, order, 1)


def dask_knn_search(X, n_neighbors: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`skdse._engine.knn.knn_search` on the cluster: one task per pair of row chunks.

    A merge task per row chunk keeps the nearest candidates; only the
    (N, k + 1) distances and indices come back to the client.
    """
    import dask

    k = min(n_neighbors, X.shape[0] - 1) + 1
    exponent = scale_exponent(float(abs(X).max().compute()))  # one scale for every block
    blocks = X.to_delayed().ravel()
    offsets = np.concatenate([[0], np.cumsum(X.chunks[0])])[:-1]
    merged = [
        dask.delayed(_knn_merge)(
            [
                dask.delayed(_knn_pair)(bi, bj, int(o), k, exponent)
                for bj, o in zip(blocks, offsets)
            ],
            k,
        )
        for bi in blocks
    ]
    out = compute_on_cluster(lambda: merged)
    return np.concatenate([d for d, _ in out]), np.concatenate([i for _, i in out])


def _numpy_namespace():
    from array_api_compat import array_namespace

    return array_namespace(np.empty(0))


class ClusterPlacement:
    """A row-chunked dask array: the work on it runs on the cluster (see the module's notes).

    The :class:`~skdse._engine.placement.Placement` of a dask X; every wait
    on the cluster goes through :func:`compute_on_cluster`.
    """

    operator_on_client = False

    def to_backend(self, X, backend: str):
        """X itself for ``"auto"``; else gathered (one bounded computation) and moved there."""
        if backend == "auto":
            return X
        return to_backend(self.in_memory(X), backend)[1]

    def in_memory(self, X):
        """X gathered on the client (one bounded computation)."""
        return compute_on_cluster(lambda: (X,))[0]

    def validate(self, X, input_name: str = "X"):
        return check_dask_X(X, "float64", input_name)

    def validate_affinity(self, X, input_name: str = "X"):
        return check_dask_affinity(X, input_name)

    def all_rows_equal(self, X) -> bool:
        (spread,) = compute_on_cluster(lambda: ((X.max(axis=0) > X.min(axis=0)).any(),))
        return not bool(spread)

    def resolve_bandwidth(self, X, bandwidth, random_state=None) -> float:
        """:func:`~skdse._engine.kernels.resolve_bandwidth` with the reductions on the cluster.

        ``"median"`` gathers its (at most 2000-row) subsample, drawn as in memory.
        """
        if not isinstance(bandwidth, str):
            return float(bandwidth)
        if bandwidth == "median":
            idx = median_rows(X.shape[0], random_state)
            (Xs,) = compute_on_cluster(lambda: (X if idx is None else X[idx],))
            return resolve_bandwidth(np.asarray(Xs), "median")
        (max_abs,) = compute_on_cluster(lambda: (abs(X).max(),))
        e = scale_exponent(float(max_abs))
        (v,) = compute_on_cluster(lambda: (half_total_variance(X, e, namespace(X)),))
        return scale_sigma(float(v), e)

    def take(self, X, idx, pairwise: bool = False):
        """The rows ``idx`` of X (or its principal sub-matrix), lazily on the cluster."""
        return X[idx][:, idx] if pairwise else X[idx]

    def row_sets(self, X, picks, pairwise: bool = False):
        """``take(X, p, pairwise)`` for each of ``picks``, gathered in one pass over the cluster."""
        return compute_on_cluster(lambda: [self.take(X, p, pairwise) for p in picks])

    def term_jobs(self, X, n_jobs):
        """1: each term's blocks are already cluster tasks, and a joblib task waiting on
        the cluster from inside a worker could starve it."""
        return 1

    def operator_memory(self, X) -> int | None:
        return cluster_memory_bytes()

    def client_memory(self, X) -> int | None:
        return None

    def exact_operator(self, X, sigma: float, dtype: str) -> DenseOperator:
        """The normalised operator built blockwise, gathered on the client for the eigensolver."""
        A, degrees = dask_diffusion_operator(X, sigma, np.dtype(dtype))
        A, degrees = compute_on_cluster(lambda: (A, degrees))
        return DenseOperator(np.asarray(A), np.asarray(degrees, dtype=np.float64))

    def dense_operator(self, X, sigma: float) -> DaskOperator:
        return DaskOperator(X, sigma)

    def matrix_free_operator(self, X, sigma: float, n_threads: int) -> DaskMatrixFreeOperator:
        return DaskMatrixFreeOperator(X, sigma)

    def knn_operator(
        self,
        X,
        n_neighbors: int,
        neighbors: str = "exact",
        random_state: int | None = None,
        n_threads: int = 1,
    ) -> KnnOperator:
        """The cluster's blockwise search is exact, whatever ``neighbors`` asks
        (an approximate search on the cluster is not written yet)."""
        return KnnOperator(*knn_graph(*dask_knn_search(X, n_neighbors)))

    def affinity_operator(self, X, dtype: str) -> DaskAffinityOperator:
        return DaskAffinityOperator(X, dtype)

    def release(self, X) -> None:
        """Nothing: the cluster's memory is its scheduler's to manage."""
