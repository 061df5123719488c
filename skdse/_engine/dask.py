"""Dask arrays: the kernel built block by block on a cluster.

X arrives as a ``dask.array`` chunked by rows. Kernel blocks for every pair of
row chunks are built with ``dask.array.blockwise`` (no task ever holds the
N x N kernel), degrees come from block reductions and the symmetric
normalisation is applied blockwise. The exact solver then gathers the
normalised operator (it has to fit one machine). slq multiplies on the
cluster: with the blocks persisted there while they fit in half the
cluster's memory (:class:`DaskOperator`), else with kernel blocks recomputed
from X for every product (:class:`DaskMatrixFreeOperator`). The ``"knn"``
kernel's neighbour search and its sparse graph (O(N k)) stay on the cluster
(:class:`DaskKnnOperator`). slq's Lanczos vectors live on the workers too, in
X's row chunks (:class:`ClusterVectors`): the client holds only the
recurrences' coefficients and the degrees (N floats). Chunks may be NumPy or,
on GPU workers, CuPy arrays: every task works in its chunks' library (the kNN
search and graph run on the workers' host memory).
Computations run on the scheduler that ``dask.config`` or the current
``distributed.Client`` points at. Dask is imported only when a dask array
arrives.

Lost workers. Every computation of a fit on a ``distributed`` cluster goes
through :func:`compute_on_cluster`. What the cluster computed (X's chunks
from a graph or storage, the persisted kernel blocks, the augmented
coordinates) has lineage: when the worker holding it dies, the scheduler
recomputes it from its tasks. Data sent from the client (slq's random start
vectors, drawn on the client block by block) is scattered, so that it stays
out of the task graph, and scattered data has no lineage: the scheduler
forgets it with its worker and cancels the computations that need it. A
computation that lost such data is retried, re-sending the client's data,
up to ``LOSS_RETRIES`` times; slq's Lanczos vectors, which derive from the
scattered starts, are not recomputable either, so a Lanczos run that lost
some restarts from its starts, drawn again from the same random state
(:meth:`ClusterPlacement.restarting`), up to ``LOSS_RETRIES`` times.
Retrying was chosen over replicating the vectors (every product would travel
once per copy, and Dask's memory manager drops extra replicas) and over
putting them in the graph (a large graph through the scheduler on every
product): it costs nothing while no worker dies, and the products are pure
functions of the vectors and the cluster's recomputable blocks, so the
retried computation, and the fit, are the same as without the loss. While no worker is left, a
computation waits up to the grace period (``skdse.worker-grace-period`` in
``dask.config``, default 60 s) for one to join, then fails with
:class:`NoWorkerLeft` (a ``RuntimeError``) naming the scheduler; it never waits
forever. Data that a user scattered from the client (``scatter_rows``) has
no lineage either: if every worker holding a chunk of X dies, the fit fails
after the retries with :class:`ClusterDataLost`, and whoever holds X sends it
again (the command line does, once).
"""

from __future__ import annotations

import copy
import math
import threading
import time
import uuid
from concurrent.futures import CancelledError
from contextlib import contextmanager

import numpy as np
import scipy.sparse as sp
from array_api_compat import device

from .backend import device_memory_bytes, namespace, to_backend, to_numpy
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
from .knn import KnnOperator, approximate_search, knn_graph, nearest_rows, resolve_neighbors
from .operators import AffinityOperator, DenseOperator, block_row_products
from .resources import available_memory_bytes
from .slq import LocalVectors, Scaling

#: Columns of a recomputed kernel tile inside one task (cache-sized).
TILE_COLS = 2048

#: Times a computation is retried after the cluster lost data it cannot recompute.
LOSS_RETRIES = 3
# The futures :func:`to_cluster` made while a :func:`compute_on_cluster` build runs
# (a stack per thread: a build may compute on the cluster itself).
_SENT = threading.local()

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
    rows = tuple(c for c in X.chunks[0] if c)  # empty row chunks (from filtering) dropped
    X = X.astype(np.dtype(dtype)).rechunk({0: rows, 1: -1})
    finite = X.map_blocks(_all_finite, chunks=(1, 1), dtype=bool).all()
    if not bool(compute_on_cluster(lambda: (finite,))[0]):
        raise ValueError(f"Input {input_name} contains NaN or infinity (found when computing it).")
    return X


def _all_finite(block):
    """Whether a chunk (NumPy, or CuPy on a GPU worker) holds only finite values, as (1, 1)."""
    xp = namespace(block)
    return xp.reshape(xp.all(xp.isfinite(block)), (1, 1))


def _chunk_meta(X):
    """An empty array of the library X's chunks are in (NumPy, or CuPy on GPU workers)."""
    return getattr(X, "_meta", None) if getattr(X, "_meta", None) is not None else np.empty(0)


def _on_chunk_device(A, meta):
    """A dask array of NumPy chunks (sent from the client) in the chunks' library of ``meta``."""
    if isinstance(meta, np.ndarray):
        return A
    xp = namespace(meta)
    return A.map_blocks(xp.asarray, meta=xp.empty((0,) * A.ndim, dtype=xp.float64))


def _times_rows(block, coefficients: np.ndarray):
    """A (k, rows) chunk's rows times ``coefficients`` (k,), in the chunk's library."""
    xp = namespace(block)
    return block * xp.asarray(coefficients, device=device(block))[:, None]


def _rows_of_ones(block):
    """A (rows, 1) float64 column of ones where the chunk lives."""
    xp = namespace(block)
    return xp.ones((block.shape[0], 1), dtype=xp.float64, device=device(block))


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
    lost with a worker is sent again. The data it sends is held until the
    results are gathered (:func:`_holding_sent_data`). Without a ``distributed`` client,
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
        with _holding_sent_data():
            return dask.compute(*build())
    from distributed.comm import CommClosedError

    for _ in range(LOSS_RETRIES + 1):
        _wait_for_a_worker(client)
        with _holding_sent_data():
            try:
                futures = client.compute(list(build()))
            except (
                CancelledError,
                OSError,
                ClusterDataLost,
            ) as exc:  # sending to a worker that just died
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


def _total_gpu_memory() -> int:
    """The total memory of this process's GPU (a cluster task on a GPU worker)."""
    import cupy

    return int(cupy.cuda.runtime.memGetInfo()[1])


def cluster_memory_bytes(meta=None) -> int | None:
    """Memory of the cluster computations go to: the workers' limits, or this machine's.

    For chunks on GPUs (``meta`` a CuPy array), the workers' GPUs' memory.
    """
    client = _current_client()
    on_gpu = meta is not None and not isinstance(meta, np.ndarray)
    if on_gpu and client is not None:
        return int(sum(client.run(_total_gpu_memory).values()))
    if on_gpu:
        return device_memory_bytes(namespace(meta), meta)
    if client is None:
        return available_memory_bytes()
    workers = client.scheduler_info(n_workers=-1)["workers"].values()
    limits = [w.get("memory_limit") or 0 for w in workers]
    if not limits or 0 in limits:  # no limit set: the workers' machines are unknown
        return available_memory_bytes()
    return int(sum(limits))


@contextmanager
def _holding_sent_data():
    """Keep every future :func:`to_cluster` makes in this block until the block ends.

    A collection built on scattered data may not hold the futures it names:
    ``Array.to_delayed()`` optimises the graph into copies of them, which take
    no reference until they are computed. Once the originals are dropped, the
    client tells the scheduler to forget the data, from its event loop, and
    the computation submitted next finds it lost ("lost dependencies"), the
    more often the busier the machine. :func:`compute_on_cluster` holds the
    data its build sends until the results are gathered.
    """
    stack = _SENT.__dict__.setdefault("stack", [])
    stack.append([])
    try:
        yield
    finally:
        stack.pop()


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
    _wait_for_a_worker(client)  # none left: NoWorkerLeft after the grace period
    try:
        futures = client.scatter(blocks, hash=False)
    except OSError as exc:  # the worker it went to died (comm closed, timed out)
        raise ClusterDataLost(f"sending data to the cluster failed: {exc}") from exc
    for held in getattr(_SENT, "stack", [])[-1:]:
        held.extend(futures)  # until compute_on_cluster has gathered (_holding_sent_data)
    return futures


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


def _projections(kept, w) -> np.ndarray:
    """``kept[l] . w`` for each (k, rows) chunk of the kept vectors, as (k, len(kept)) on the
    host; ``w`` is (k, rows), or (rows,) (the same vector for every recurrence)."""
    xp = namespace(w)
    return np.stack([to_numpy(xp.vecdot(u, w)) for u in kept], axis=1)


def _minus_combination(w, c: np.ndarray, kept):
    """``w - sum_l c[:, l] kept[l]`` for a (k, rows) chunk, ``c`` (k, len(kept)) on the host."""
    xp = namespace(w)
    c = xp.asarray(c, device=device(w))
    correction = c[:, 0, None] * kept[0]
    for i in range(1, len(kept)):
        correction = correction + c[:, i, None] * kept[i]
    return w - correction


def _first_pass(product, v, *kept) -> tuple:
    """A row chunk's partial sums of ``w . v``, ``kept . w`` and ``kept . v`` (``w`` the
    chunk of the product, transposed) on the host: :meth:`ClusterVectors.lanczos_step`."""
    xp = namespace(product)
    w = product.T
    return to_numpy(xp.matmul(w, v)), _projections(kept, w), _projections(kept, v)


def _first_coefficients(partials) -> tuple[np.ndarray, np.ndarray]:
    """``w . v`` and the first Gram-Schmidt coefficients ``kept . (w - (w . v) v)``."""
    wv, kw, kv = (sum(p[i] for p in partials) for i in range(3))
    return wv, kw - wv[:, None] * kv


def _second_pass(product, v, coefficients, *kept) -> tuple:
    """``w - (w . v) v - kept^T c`` of a row chunk, and its partial ``kept . w``."""
    xp = namespace(product)
    wv, c = coefficients
    w = product.T
    w = w - xp.asarray(wv, device=device(w))[:, None] * v[None, :]
    w = _minus_combination(w, c, kept)
    return w, _projections(kept, w)


def _summed_projections(parts) -> np.ndarray:
    return sum(p[1] for p in parts)


def _third_pass(second, c: np.ndarray, *kept) -> tuple:
    """The second Gram-Schmidt correction of a row chunk, and its partial squared norms."""
    w = _minus_combination(second[0], c, kept)
    return w, to_numpy(namespace(w).vecdot(w, w))


def _step_summary(coefficients, third) -> np.ndarray:
    """``(alpha, b)`` of a Lanczos step, (2, k): alpha is the coefficient of q (the last
    kept vector) in the first pass, b the root of the summed squared norms."""
    return np.stack([coefficients[1][:, -1], np.sqrt(sum(t[1] for t in third))])


def _next_vectors(third, summary: np.ndarray, scaling):
    """A row chunk of the next Lanczos vectors: the step's chunk times ``scaling(alpha, b)``."""
    return _times_rows(third[0], scaling(summary[0], summary[1]))


class ClusterVectors:
    """slq's vectors in row chunks on the cluster's workers (a ``VectorSpace``).

    Vectors are dask arrays laid out in the operator's row chunks, persisted
    where they are computed; the client receives only small results (norms
    and dot products, one per recurrence) and draws the random starts, block
    by block (the same numbers as one draw on one machine), each block sent
    once to the cluster. A Lanczos step's vector work runs in a few tasks
    per row chunk (:meth:`lanczos_step`), and the client waits once per
    step. Memory on the client is O(rows of one chunk x columns), on the
    workers ~5 block vectors of 8 N k bytes in all (the three-term
    recurrence) or one per step more (the full basis).

    Examples
    --------
    >>> import numpy as np
    >>> from skdse._engine.dask import ClusterVectors
    >>> space = ClusterVectors((3, 2))
    >>> V = space.random(np.random.default_rng(0), "rademacher", (5, 2))
    >>> V.chunks, space.host(V.sum(axis=0))[0].shape
    (((3, 2), (2,)), (2,))
    """

    writable = False

    def __init__(self, row_chunks, meta=None):
        import dask.array as da
        from array_api_compat import array_namespace

        self.row_chunks = tuple(int(c) for c in row_chunks)
        self.meta = np.empty((0, 0)) if meta is None else meta
        self.xp = array_namespace(da.empty(0))
        self.device = None

    def random(self, rng: np.random.Generator, kind: str, shape: tuple[int, int]):
        """``rng``'s draws (as :class:`~skdse._engine.slq.LocalVectors` draws them), each row
        chunk drawn on the client and sent to the cluster before the next is drawn."""
        import dask.array as da

        from .slq import _draw

        blocks = []
        for rows in self.row_chunks:
            block = _draw(rng, kind, (rows, shape[1]))
            (ref,) = to_cluster([block])
            blocks.append(da.from_delayed(ref, block.shape, dtype=block.dtype))
        return _on_chunk_device(da.concatenate(blocks), self.meta)

    def scale(self, V, c: np.ndarray):
        """The rows of ``V`` (k, n; k in one chunk) times the client's coefficients ``c``,
        moved into each chunk's library in its task (NumPy in the graph: the client and
        the scheduler need no GPU)."""
        return V.map_blocks(_times_rows, dtype=V.dtype, coefficients=np.asarray(c))

    def vector(self, a):
        """A vector of the client's (an operator's degrees) sent to the cluster in row chunks."""
        V = scatter_rows(to_numpy(a).astype(np.float64, copy=False), self.row_chunks)
        return _on_chunk_device(V, self.meta)

    def host(self, *arrays) -> tuple[np.ndarray, ...]:
        """Small results computed on the cluster (:func:`compute_on_cluster`), on the client."""
        return tuple(to_numpy(a) for a in compute_on_cluster(lambda: arrays))

    def keep(self, a):
        """``a`` persisted on the cluster, its axes other than the rows in one chunk."""
        import dask

        whole = {ax: -1 for ax, c in enumerate(a.chunks) if c != self.row_chunks}
        return dask.persist(a.rechunk(whole) if whole else a)[0]

    def lanczos_step(self, product, v, kept: list, scaling: Scaling | None = None):
        """One Lanczos step's vector work (:meth:`~skdse._engine.slq.VectorSpace.lanczos_step`)
        in three passes of one task per row chunk, each followed by one small task that
        sums the chunks' partial results.

        1. ``w . v``, ``kept . w`` and ``kept . v`` of the chunk (w: the product's chunk
           transposed); their sums give the first Gram-Schmidt coefficients of
           ``w - (w . v) v`` by linearity, and ``alpha`` (q, the last of ``kept``).
        2. ``w - (w . v) v - kept^T c``, and its ``kept . w`` for the second pass.
        3. The second correction, and the chunk's squared norms; ``b`` is their sum's root.

        With ``scaling``, one more task per chunk scales it into the next vectors,
        persisted with the step's ``(alpha, b)``, which are the one result the client
        waits for (:meth:`host`). The same arithmetic as in memory up to rounding:
        only the order of the sums differs.
        """
        import dask
        import dask.array as da
        from dask.highlevelgraph import HighLevelGraph

        delayed = dask.delayed
        chunks = self.row_chunks
        products = product.rechunk({0: chunks, 1: -1}).to_delayed().ravel()
        vs = v.to_delayed().ravel()
        per_chunk = list(zip(*(u.to_delayed()[0] for u in kept)))  # each chunk's kept rows
        first = [delayed(_first_pass)(w, vi, *u) for w, vi, u in zip(products, vs, per_chunk)]
        coefficients = delayed(_first_coefficients)(first)
        second = [
            delayed(_second_pass)(w, vi, coefficients, *u)
            for w, vi, u in zip(products, vs, per_chunk)
        ]
        correction = delayed(_summed_projections)(second)
        third = [delayed(_third_pass)(s, correction, *u) for s, u in zip(second, per_chunk)]
        summary = delayed(_step_summary)(coefficients, third)
        q = None
        if scaling is not None:
            # the array's chunks are the tasks themselves (no alias task per chunk)
            name = f"lanczos-vectors-{uuid.uuid4().hex}"
            parts = [
                delayed(_next_vectors)(t, summary, scaling, dask_key_name=(name, 0, i))
                for i, t in enumerate(third)
            ]
            q = da.Array(
                HighLevelGraph.merge(*(p.dask for p in parts)),
                name,
                ((product.shape[1],), chunks),
                dtype=np.float64,
                meta=self.meta,
            )
            # one submission: the next vectors kept, and the summary the client fetches
            q, summary = dask.persist(q, summary)
        ((alpha, b),) = self.host(summary)
        return alpha, b, q


class OnCluster:
    """An operator whose products run on the cluster, with slq's vectors there
    (:class:`ClusterVectors` in X's row chunks, ``row_chunks``).

    ``matmat(V)`` takes such a dask array and returns the lazy product, in the
    same row chunks, for slq to persist; a NumPy ``V`` (tests, ``toarray``) is
    sent to the cluster and its product comes back as NumPy.
    """

    row_chunks: tuple
    #: An empty array of the library the cluster's chunks are in.
    meta = np.empty((0, 0))

    @property
    def vectors(self) -> ClusterVectors:
        return ClusterVectors(self.row_chunks, self.meta)

    def matmat(self, V):
        if V.ndim != 2 or V.shape[0] != self.n:
            raise ValueError(f"V must have shape ({self.n}, k), got {V.shape}.")
        if hasattr(V, "dask"):
            return self._matmat(V.rechunk({0: self.row_chunks, 1: -1}))
        V = to_numpy(V).astype(np.float64, copy=False)
        (AV,) = compute_on_cluster(
            lambda: (self._matmat(_on_chunk_device(scatter_rows(V, self.row_chunks), self.meta)),)
        )
        return to_numpy(AV).astype(np.float64, copy=False)

    def _matmat(self, V):
        """The lazy product with a dask ``V`` in :attr:`row_chunks`."""
        raise NotImplementedError


class DaskOperator(OnCluster):
    """Normalised operator persisted blockwise on the cluster, for slq (4 N^2 bytes there)."""

    def __init__(self, X, sigma: float):
        import dask

        A, degrees = dask_diffusion_operator(X, sigma, np.float32)
        # persisted: lineage, so the cluster recomputes blocks lost with a worker
        self.A, degrees = dask.persist(A, degrees)
        self.degrees = _host_float64(compute_on_cluster(lambda: (degrees,))[0])
        self.n = X.shape[0]
        self.row_chunks, self.meta = X.chunks[0], _chunk_meta(X)
        self.xp = _numpy_namespace()
        self.diagnostics = KernelDiagnostics.from_degrees(self.degrees)

    def _matmat(self, V):
        return (self.A @ V.astype(np.float32)).astype(np.float64)

    def toarray(self) -> np.ndarray:
        """The persisted blocks gathered on the client (N x N float32)."""
        return to_numpy(compute_on_cluster(lambda: (self.A,))[0])


class DaskAffinityOperator(OnCluster, AffinityOperator):
    """A precomputed affinity on the cluster (``affinity="precomputed"``), multiplied as given.

    The degrees are one reduction there; each product ``s * G (s * V)`` runs
    on G's chunks (no copy of G is stored), with ``s = 1 / sqrt(d)`` persisted
    there, as :class:`~skdse._engine.operators.AffinityOperator` computes it.
    ``toarray()`` gathers G in ``dtype`` and normalises it on the client.
    """

    def __init__(self, G, dtype: str = "float64"):
        import dask
        import dask.array as da

        self.G = G
        self.xp = _numpy_namespace()
        self.n = G.shape[0]
        self.row_chunks, self.meta = G.chunks[0], _chunk_meta(G)
        self.dtype = dtype
        (degrees,) = dask.persist(G.sum(axis=1, dtype=np.float64))
        (host,) = compute_on_cluster(lambda: (degrees,))
        self._set_degrees(_host_float64(host))
        (self._cluster_scale,) = dask.persist(1.0 / da.sqrt(degrees))

    def _matmat(self, V):
        s = self._cluster_scale[:, None]
        SV = (s * V).rechunk({0: self.G.chunks[1]})
        return s * (self.G @ SV).astype(np.float64)

    def _dense(self, dtype: str) -> np.ndarray:
        (G,) = compute_on_cluster(lambda: (self.G.astype(np.dtype(dtype)),))
        return np.array(to_numpy(G), dtype=np.dtype(dtype))


def _pair_product(Li, Rj, SVi, SVj, diagonal: bool, method: str = "float32", gamma: float = 1.0):
    """``(G_ij SV_j, G_ij^T SV_i)`` of one recomputed float32 kernel block (a cluster task).

    On the diagonal the block is whole and only the first product is made
    (the second is empty): :func:`~skdse._engine.operators.block_row_products`.
    """
    shared_from = Rj.shape[0] if diagonal else 0
    return block_row_products(
        Li, Rj, SVi, SVj, shared_from, method, gamma, np.float32, TILE_COLS, namespace(Li)
    )


class DaskMatrixFreeOperator(OnCluster):
    """Gaussian operator whose kernel blocks are recomputed on the cluster for every product.

    Memory on the cluster is O(N D) (the augmented coordinates, persisted);
    each product runs one task per pair of row chunks ``i <= j`` (the kernel
    is symmetric, so each block serves ``out_i`` and ``out_j``) and one sum
    per row chunk. Kernel blocks are float32, sums float64, as in
    :class:`skdse._engine.operators.MatrixFreeOperator`.
    """

    def __init__(self, X, sigma: float):
        import dask
        import dask.array as da

        c = kernel_coordinates(X, sigma, np.float32)
        self._method, self._gamma = c.method, c.gamma
        L, R = (a.rechunk({1: -1}) for a in (c.L, c.R))
        # The persisted arrays hold the cluster's copies; the delayed blocks only name them.
        self._persisted = dask.persist(L, R)
        self._L, self._R = (a.to_delayed().ravel() for a in self._persisted)
        self.row_chunks, self.meta = X.chunks[0], _chunk_meta(X)
        self.n = X.shape[0]
        self.xp = _numpy_namespace()
        self._scale = None
        ones = X[:, :1].map_blocks(_rows_of_ones, dtype=np.float64)
        (degrees,) = dask.persist(self._matmat(ones)[:, 0])
        self.degrees = _host_float64(compute_on_cluster(lambda: (degrees,))[0])
        (self._scale,) = dask.persist(1.0 / da.sqrt(degrees))
        self.diagnostics = KernelDiagnostics.from_degrees(self.degrees)

    def _matmat(self, V):
        """``S G S V`` with ``S = diag(self._scale)`` (the identity while degrees are computed)."""
        import dask.array as da

        SV = V if self._scale is None else V * self._scale[:, None]
        SV = SV.astype(np.float32).to_delayed()[:, 0]
        k = V.shape[1]
        rows = [
            da.from_delayed(r, (n, k), dtype=np.float64, meta=self.meta)
            for r, n in zip(self._row_sums(list(SV)), self.row_chunks)
        ]
        GSV = da.concatenate(rows)
        return GSV if self._scale is None else GSV * self._scale[:, None]

    def toarray(self) -> np.ndarray:
        """A on the client, column by column from products (N x N float64; small N only)."""
        return self.matmat(np.eye(self.n))

    def _row_sums(self, SV: list) -> list:
        """One delayed sum per row chunk of ``G SV``, for ``SV``'s blocks on the cluster."""
        import dask

        nc = len(self.row_chunks)
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
    return nearest_rows(to_numpy(Xi), to_numpy(Xj), n_neighbors, offset, exponent)


def _knn_merge(parts, n_neighbors: int):
    """The ``n_neighbors`` nearest over every block's candidates.

    Ordered as :func:`skdse._engine.knn.nearest_rows` orders them: distance,
    then the rows' value keys, then index, so the result is the in-memory one.
    """
    dist, idx, keys = (np.concatenate([p[c] for p in parts], axis=1) for c in range(3))
    order = np.lexsort((idx, keys, dist), axis=1)[:, :n_neighbors]
    return np.take_along_axis(dist, order, 1), np.take_along_axis(idx, order, 1)


def _exponent_of(max_abs) -> int:
    return scale_exponent(float(max_abs))


def dask_knn_search(X, n_neighbors: int):
    """:func:`skdse._engine.knn.knn_search` on the cluster: one task per pair of row chunks.

    A merge task per row chunk keeps the nearest candidates. Lazy: returns
    the (N, k + 1) distances and indices as dask arrays with X's row chunks,
    nothing computed (:class:`DaskKnnOperator` builds its graph from them on
    a worker; ``np.asarray`` gathers them).
    """
    import dask
    import dask.array as da

    k = min(n_neighbors, X.shape[0] - 1) + 1
    # one scale for every block, itself a task
    exponent = dask.delayed(_exponent_of)(abs(X).max())
    blocks = X.to_delayed().ravel()
    offsets = np.concatenate([[0], np.cumsum(X.chunks[0])])[:-1]
    merged = [
        dask.delayed(_knn_merge, nout=2)(
            [
                dask.delayed(_knn_pair)(bi, bj, int(o), k, exponent)
                for bj, o in zip(blocks, offsets)
            ],
            k,
        )
        for bi in blocks
    ]
    dist, idx = (
        da.concatenate(
            [da.from_delayed(m[c], (rows, k), dtype=dtype) for m, rows in zip(merged, X.chunks[0])]
        )
        for c, dtype in ((0, np.float64), (1, np.intp))
    )
    return dist, idx


# ---------------------------------------------------------------------------
# The kNN operator on the cluster: its sparse graph is built and kept there.
# ---------------------------------------------------------------------------


def _knn_normalised(dist: np.ndarray, idx: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    """``(A, degrees)`` of the kNN graph of a search, as :class:`KnnOperator` makes them
    (the same arithmetic, so the same operator as in memory); a cluster task."""
    op = KnnOperator(*knn_graph(dist, idx))
    return op.A, op.degrees


def _touched_chunks(cols: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """The column chunks (bounds ``bounds``) that the columns ``cols`` lie in, ascending."""
    return np.unique(np.searchsorted(bounds, cols, side="right") - 1)


def _split_rows(A: sp.csr_matrix, start: int, stop: int, bounds: np.ndarray):
    """Rows ``start:stop`` of A on the column chunks they touch (a cluster task).

    Returns the block, whose columns are those of the touched chunks
    concatenated (in order, so each row's sum runs in the same order as in
    ``A @ V``), and the touched chunks' indices.
    """
    block = A[start:stop]
    touched = _touched_chunks(block.indices, bounds)
    sizes = np.diff(bounds)[touched]
    shift = np.zeros(len(bounds) - 1, dtype=np.int64)
    shift[touched] = bounds[touched] - (np.cumsum(sizes) - sizes)
    cols = block.indices - shift[np.searchsorted(bounds, block.indices, side="right") - 1]
    shape = (stop - start, int(sizes.sum()))
    return sp.csr_matrix(
        (block.data, cols.astype(block.indices.dtype), block.indptr), shape
    ), touched


def _block_product(block: sp.csr_matrix, *V_parts):
    """``A_i @ V`` from the row chunks of V that the block's columns touch (a cluster task).

    The sparse product runs in the worker's host memory; the result goes back
    to the chunks' library (CuPy chunks on a GPU worker).
    """
    xp = namespace(V_parts[0])
    V = np.concatenate([to_numpy(p) for p in V_parts], axis=0)
    return xp.asarray(np.asarray(block @ V, dtype=np.float64))


def _approximate_search(X, n_neighbors: int, random_state, n_threads: int):
    """:func:`~skdse._engine.knn.approximate_search` of X's chunks concatenated on a worker
    (in its host memory), on :func:`_task_threads` threads."""
    return approximate_search(to_numpy(X), n_neighbors, random_state, _task_threads(n_threads))


def _task_threads(n_threads: int) -> int:
    """Threads of a multithreaded search in a cluster task: one stays one (a seeded,
    reproducible search); more becomes the threads of the worker running it (its
    ``nthreads``), not the CPUs of the client that counted ``n_threads``. On Dask's
    local schedulers the task runs on the client's machine: ``n_threads``.
    """
    if n_threads == 1 or not _in_a_task():
        return n_threads
    from distributed import get_worker

    return max(1, int(get_worker().state.nthreads))


class DaskKnnOperator(OnCluster):
    """The kNN diffusion operator ``D^-1/2 G D^-1/2`` built and kept on the cluster.

    The neighbour search runs there (exact: :func:`dask_knn_search`, a task
    per pair of row chunks; approximate: :func:`~skdse._engine.knn.approximate_search`
    in one task, on X's chunks concatenated on a worker, seeded with
    ``random_state``). Its (dist, idx) are never gathered: one task builds
    the graph (:func:`~skdse._engine.knn.knn_graph`, normalised as
    :class:`~skdse._engine.knn.KnnOperator` does), and one task per row
    chunk of X cuts its rows, restricted to the column chunks they have
    nonzeros in. The row blocks are persisted (lineage back to X: a block
    lost with its worker is recomputed); the client receives only the
    degrees (n floats) and which column chunks each row block touches.

    ``matmat(V)`` takes a dask array V of shape (n, k) whose row chunks are
    :attr:`row_chunks` (X's) and returns ``A @ V`` lazily (nothing
    computed), float64, with the same row chunks: per row block one task
    ``A_i @ [V_j for the touched chunks j]``. Communication: each task
    reads the chunks of V its rows touch, at most all of V (n k 8 bytes);
    on data whose rows are ordered by neighbourhood (sorted, clustered) few
    chunks are touched, on rows in random order nearly all. A NumPy V
    (:class:`OnCluster`) is sent to the cluster and its product comes back
    as NumPy.

    Memory. The graph holds between k + 1 and 2k + 1 nonzeros per row (the
    union of each point's k neighbours, itself included, and the points it
    is a neighbour of; 26.3 on average for blobs, D = 64, k = 15), 12 bytes
    each (float64 value, int32 column) plus a 4-byte row pointer: at most
    (24 k + 16) n bytes for the whole graph, spread over the workers with
    the row blocks (376 MB at n = 1e6, k = 15; 320 MB at the measured
    average). The task that builds the graph holds, on one worker, once,
    the search's (dist, idx) (16 (k + 1) n bytes: 256 MB) and scipy's
    intermediates of the symmetrisation (several times the graph: a few
    GB at n = 1e6); the graph is copied to the workers that cut its row
    blocks. A product's task holds its block, the touched chunks of V
    concatenated (at most 8 n k bytes: 768 MB at n = 1e6, k = 96) and its
    result (8 k bytes per row of the block).

    Examples
    --------
    >>> import dask
    >>> import dask.array as da
    >>> import numpy as np
    >>> from skdse._engine.dask import DaskKnnOperator
    >>> X = da.from_array(np.random.default_rng(0).normal(size=(60, 3)), chunks=(20, 3))
    >>> with dask.config.set(scheduler="synchronous"):
    ...     op = DaskKnnOperator(X, 5)
    ...     AV = op.matmat(da.ones((60, 2), chunks=(20, 2)))
    ...     np.allclose(AV.compute(), op.toarray() @ np.ones((60, 2)))
    True
    >>> op.row_chunks, op.degrees.shape
    ((20, 20, 20), (60,))
    """

    def __init__(
        self,
        X,
        n_neighbors: int,
        neighbors: str = "exact",
        random_state: int | None = None,
        n_threads: int = 1,
    ):
        import dask

        self.n = X.shape[0]
        self.xp = _numpy_namespace()
        self.row_chunks = tuple(int(c) for c in X.chunks[0])
        self.meta = _chunk_meta(X)
        self._bounds = np.concatenate([[0], np.cumsum(self.row_chunks)]).astype(np.int64)
        if resolve_neighbors(self.n, neighbors) == "approximate":
            # X's chunks concatenated in the task, on a worker (never on the client)
            dist, idx = dask.delayed(_approximate_search, nout=2)(
                X, n_neighbors, random_state, n_threads
            )
        else:
            dist, idx = dask_knn_search(X, n_neighbors)
        A, degrees = dask.delayed(_knn_normalised, nout=2)(dist, idx)
        b = self._bounds
        split = [
            dask.delayed(_split_rows, nout=2)(A, int(b[i]), int(b[i + 1]), b)
            for i in range(len(self.row_chunks))
        ]
        # persisted: lineage, so the cluster recomputes blocks lost with a worker
        persisted = dask.persist(*[s[0] for s in split], *[s[1] for s in split], degrees)
        nc = len(split)
        self._blocks, touched, degrees = persisted[:nc], persisted[nc:-1], persisted[-1]
        out = compute_on_cluster(lambda: (degrees, *touched))
        self.degrees = _host_float64(out[0])
        self._touched = [np.asarray(t, dtype=np.int64) for t in out[1:]]
        self.diagnostics = KernelDiagnostics.from_degrees(self.degrees)

    def _matmat(self, V):
        import dask
        import dask.array as da

        parts = V.astype(np.float64).to_delayed(optimize_graph=False).ravel()
        k = V.shape[1]
        return da.concatenate(
            [
                da.from_delayed(
                    dask.delayed(_block_product)(block, *[parts[j] for j in touched]),
                    (rows, k),
                    dtype=np.float64,
                    meta=self.meta,
                )
                for block, touched, rows in zip(self._blocks, self._touched, self.row_chunks)
            ]
        )

    def toarray(self) -> np.ndarray:
        """A gathered on the client, dense (N x N float64; small N only)."""
        blocks = compute_on_cluster(lambda: self._blocks)
        b = self._bounds
        A = np.zeros((self.n, self.n))
        for i, (block, touched) in enumerate(zip(blocks, self._touched)):
            cols = np.concatenate([np.arange(b[j], b[j + 1]) for j in touched])
            A[b[i] : b[i + 1], cols] = block.toarray()
        return A


def _host_float64(a) -> np.ndarray:
    """A computed result (NumPy, or CuPy from GPU workers) as float64 on the client."""
    return to_numpy(a).astype(np.float64, copy=False)


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
            return resolve_bandwidth(to_numpy(Xs), "median")
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
        return cluster_memory_bytes(_chunk_meta(X))

    def client_memory(self, X) -> int | None:
        return None

    def exact_operator(self, X, sigma: float, dtype: str) -> DenseOperator:
        """The normalised operator built blockwise, gathered on the client for the eigensolver."""
        A, degrees = dask_diffusion_operator(X, sigma, np.dtype(dtype))
        A, degrees = compute_on_cluster(lambda: (A, degrees))
        return DenseOperator(to_numpy(A), _host_float64(degrees))

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
    ) -> DaskKnnOperator:
        """The search, exact or approximate, and the sparse graph on the cluster.

        The approximate search runs on one thread if ``n_threads`` is 1, else on
        the threads of the worker it runs on (:func:`_task_threads`)."""
        return DaskKnnOperator(X, n_neighbors, neighbors, random_state, n_threads)

    def affinity_operator(self, X, dtype: str) -> DaskAffinityOperator:
        return DaskAffinityOperator(X, dtype)

    def vector_memory(self, X, host_operator: bool = False) -> int | None:
        """The cluster's: slq's vectors live on the workers (:class:`ClusterVectors`), with
        every cluster operator (the kNN graph's too); GPU memory for CuPy chunks."""
        return cluster_memory_bytes(_chunk_meta(X))

    def vector_space(self, operator):
        """The workers' for an operator on the cluster; else its own device's."""
        if isinstance(operator, OnCluster):
            return operator.vectors
        return LocalVectors(operator.xp)

    def restarting(self, run, rng: np.random.Generator):
        """``run(rng)``, run again from the same random state after the cluster lost
        vectors it cannot recompute (up to ``LOSS_RETRIES`` times; see the module's
        notes); ``rng`` ends as one uninterrupted run leaves it."""
        if _current_client() is None:  # Dask's local schedulers lose nothing
            return run(rng)
        for attempt in range(LOSS_RETRIES + 1):
            trial = copy.deepcopy(rng)
            try:
                out = run(trial)
            except (ClusterDataLost, CancelledError):
                # vectors lost with a worker, or a worker lost while vectors were sent
                if attempt == LOSS_RETRIES:
                    raise
                continue
            rng.bit_generator.state = trial.bit_generator.state
            return out

    def release(self, X) -> None:
        """Nothing: the cluster's memory is its scheduler's to manage."""
