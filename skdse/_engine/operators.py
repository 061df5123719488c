"""Diffusion operators that the Lanczos solver multiplies with.

Each operator is the symmetric ``A = D^-1/2 G D^-1/2`` of some affinity G
and offers ``matmat(V) -> A @ V`` for a block of vectors, the degrees
``d = G 1`` (``sqrt(d)/||sqrt(d)||`` is A's top eigenvector, eigenvalue 1)
and the kernel diagnostics.

- :class:`DenseOperator`: the N x N array, built once (8 N^2 bytes).
- :class:`MatrixFreeOperator`: recomputes Gaussian kernel blocks from X for
  every product; memory O(N * block) instead of O(N^2).
- :class:`KnnOperator`: a sparse adaptive-bandwidth kernel on the k-nearest-
  neighbour graph (``affinity="knn"``), a different, documented estimand.
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
import scipy.sparse as sp
from array_api_compat import device
from threadpoolctl import OpenBLASController, threadpool_limits

from .backend import is_numpy, namespace, to_numpy
from .kernels import KernelDiagnostics, diffusion_operator, kernel_coordinates, scale_exponent
from .resources import usable_cpu_count

#: Default number of neighbours of the kNN operator.
N_NEIGHBORS = 15

_PINNED = {"depth": 0, "limiter": None}
_PIN_LOCK = threading.Lock()


@contextmanager
def one_blas_thread():
    """BLAS on one thread while any product in this process needs it.

    BLAS settings are process-wide: products running at once in threads
    (joblib's threading backend) would each save and restore them, and one
    that saved the others' limit could leave BLAS on one thread for good.
    The first one in sets the limit, the last one out restores it, whichever
    thread that is (threadpoolctl >= 3.8 lets only the thread that set an
    OpenBLAS limit change it again, so the restoring thread takes over).
    """
    with _PIN_LOCK:
        if _PINNED["depth"] == 0:
            _PINNED["limiter"] = threadpool_limits(limits=1, user_api="blas")
        _PINNED["depth"] += 1
    try:
        yield
    finally:
        with _PIN_LOCK:
            _PINNED["depth"] -= 1
            if _PINNED["depth"] == 0:
                release = getattr(OpenBLASController, "clear_controlling_thread", None)
                if release is not None:
                    release(force=True)
                _PINNED["limiter"].restore_original_limits()
                if release is not None:
                    release(force=True)


class DenseOperator:
    """The dense symmetric diffusion operator of X at bandwidth sigma, on X's device.

    ``dtype`` float32 halves the memory and the time of each product; the
    Lanczos solver accumulates in float64 either way.
    """

    def __init__(self, X, sigma: float, dtype=None):
        self.xp = namespace(X)
        self.A, self.degrees = diffusion_operator(X, sigma, dtype)
        self.n = X.shape[0]
        self.diagnostics = KernelDiagnostics.from_degrees(self.degrees)

    def matmat(self, V):
        xp = self.xp
        return xp.astype(self.A @ xp.astype(V, self.A.dtype), xp.float64)

    def toarray(self):
        return self.A


class MatrixFreeOperator:
    """Gaussian diffusion operator whose kernel blocks are recomputed per product.

    Each product makes one pass over the upper half of the N x N kernel
    (it is symmetric), a row block at a time: ``-||z_i - z_j||^2`` comes out
    of a single matrix product of augmented coordinates, then one ``exp``.
    On NumPy, blocks are spread over ``n_threads`` threads (BLAS pinned to
    one thread each, so the thread count changes only the float64 summation
    order); on a GPU they run in turn. Kernel blocks are formed in
    ``dtype`` (float32 by default: twice as fast); their exponents come from
    :func:`skdse._engine.kernels.kernel_coordinates`, in float32 only while that is
    accurate to 1e-4 (affinities to 1e-4 relative, far below the solver's
    own error), else in float64 or from direct differences (clusters far
    apart relative to sigma); products accumulate in float64.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
    sigma : float
    block_rows : int, default=1024
        Rows of the kernel formed at once per thread (memory
        ``block_rows * n_samples * itemsize`` per thread).
    dtype : dtype of X's namespace, default float32
    n_threads : int or None
        Threads over row blocks (NumPy only); None uses every CPU this
        process may use (:func:`~skdse._engine.resources.usable_cpu_count`: CPU
        affinity and cgroup quota, not the machine's core count).
    """

    def __init__(self, X, sigma, *, block_rows=1024, dtype=None, n_threads=None):
        xp = self.xp = namespace(X)
        self.dtype = xp.float32 if dtype is None else dtype
        dev = device(X)
        # Augmented coordinates (or, where float32 would cancel, float64 or the
        # direct differences): see skdse._engine.kernels.kernel_coordinates.
        self._coords = kernel_coordinates(X, sigma, self.dtype)
        self.n = X.shape[0]
        self.block_rows = int(block_rows)
        # On a GPU one tile is the whole row block (no cache to fit).
        self.tile_cols = 2048 if is_numpy(xp) else self.n
        self.n_threads = (n_threads or usable_cpu_count()) if is_numpy(xp) else 1
        self._scale = xp.ones((self.n,), dtype=xp.float64, device=dev)
        self.degrees = self._kernel_matmat(xp.ones((self.n, 1), dtype=xp.float64, device=dev))[:, 0]
        self._scale = 1.0 / xp.sqrt(self.degrees)
        self.diagnostics = KernelDiagnostics.from_degrees(self.degrees)

    def _kernel_matmat(self, V):
        """``S G S V`` with ``S = diag(self._scale)``, one pass over half of G.

        G is symmetric: row block i forms only its columns from i on, and
        each block serves twice, ``out_i += G_ij SV_j`` and
        ``out_j += G_ij^T SV_i``. Each thread sums into its own accumulator.
        """
        xp = self.xp
        SV = xp.astype(self._scale[:, None] * V, self.dtype)
        starts = list(range(0, self.n, self.block_rows))

        def work(my_starts):
            acc = xp.zeros((self.n, V.shape[1]), dtype=xp.float64, device=device(V))
            for start in my_starts:
                stop = min(start + self.block_rows, self.n)
                rows = xp.zeros((stop - start, V.shape[1]), dtype=xp.float64, device=device(V))
                # Column tiles keep each kernel tile in cache between its uses.
                for c0 in range(start, self.n, self.tile_cols):
                    c1 = min(c0 + self.tile_cols, self.n)
                    G = self._coords.block(start, stop, c0, c1, self.dtype)
                    rows = rows + xp.astype(G @ SV[c0:c1, :], xp.float64)
                    lo = max(c0, stop)  # columns past the diagonal block: use G twice
                    if lo < c1:
                        right = G[:, lo - c0 :].T @ SV[start:stop, :]
                        acc[lo:c1, :] = acc[lo:c1, :] + xp.astype(right, xp.float64)
                acc[start:stop, :] = acc[start:stop, :] + rows
            return acc

        if not is_numpy(xp):
            out = work(starts)
        else:
            # BLAS on one thread even when n_threads is 1: each block is then
            # summed in the same order whatever the thread count, and results
            # differ by float64 rounding only (not float32's).
            shares = [starts[i :: self.n_threads] for i in range(self.n_threads)]
            with one_blas_thread():
                if self.n_threads == 1:
                    accs = [work(starts)]
                else:
                    with ThreadPoolExecutor(self.n_threads) as pool:
                        accs = list(pool.map(work, shares))
            out = accs[0]
            for acc in accs[1:]:
                out = out + acc
        return out * self._scale[:, None]

    def matmat(self, V):
        return self._kernel_matmat(V)

    def toarray(self):
        xp = self.xp
        return self._kernel_matmat(xp.eye(self.n, dtype=xp.float64, device=device(self._scale)))


#: Relative margin within which two neighbour distances may be a tie that the
#: neighbour search's rounding split: such candidates are all re-measured.
TIE_RTOL = 1e-6
#: Searches with at most this many (query, row, feature) differences measure every pair.
SMALL_SEARCH = 2**20


def row_keys(X: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row's values: equal rows, equal keys, whatever their position.

    Orders neighbours tied at the same distance by value (then by index,
    which then only separates duplicated rows), so that a row permutation
    gives the same graph up to relabelling.

    Examples
    --------
    >>> import numpy as np
    >>> from skdse._engine.operators import row_keys
    >>> k = row_keys(np.array([[1.0, 2.0], [2.0, 1.0], [1.0, 2.0], [-0.0, 0.0], [0.0, 0.0]]))
    >>> bool(k[0] == k[2]), bool(k[0] == k[1]), bool(k[3] == k[4])
    (True, False, True)
    """
    values = np.asarray(X, dtype=np.float64) + 0.0  # -0.0 -> 0.0
    bits = np.ascontiguousarray(values).view(np.uint64)
    h = np.full(bits.shape[0], 0xCBF29CE484222325, dtype=np.uint64)
    for c in range(bits.shape[1]):  # FNV-1a over the 64-bit words, then a splitmix64 finish
        h = (h ^ bits[:, c]) * np.uint64(0x100000001B3)
    h = (h ^ (h >> np.uint64(33))) * np.uint64(0xFF51AFD7ED558CCD)
    return h ^ (h >> np.uint64(33))


def nearest_rows(
    Xq: np.ndarray, Xr: np.ndarray, k: int, offset: int = 0, exponent: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` rows of ``Xr`` nearest each row of ``Xq``, ties broken by value.

    scikit-learn's search proposes candidates; every candidate that may tie
    with the k-th (within :data:`TIE_RTOL`) is kept, all are re-measured
    from their differences (so the same pair always gets the same distance,
    and a row's distance to itself is exactly 0) and ordered by (distance,
    :func:`row_keys`, index). The search runs on the rows scaled by
    ``2**-exponent`` (default: from the largest value of either, so nothing
    over- or underflows); distances are scaled back exactly (inf only past
    the largest float). Returns distances, indices plus ``offset`` and the
    neighbours' keys, each of shape (n_queries, k).

    Examples
    --------
    >>> import numpy as np
    >>> from skdse._engine.operators import nearest_rows
    >>> X = np.array([[0.0], [-1.0], [1.0], [5.0]])
    >>> dist, idx, _ = nearest_rows(X[:1], X, 2)  # -1 and 1 tie at distance 1
    >>> dist.tolist(), X[idx[0], 0].tolist()
    ([[0.0, 1.0]], [0.0, 1.0])
    >>> P = X[[0, 2, 1, 3]]  # the rows in another order: the same neighbour, by value
    >>> P[nearest_rows(P[:1], P, 2)[1][0], 0].tolist()
    [0.0, 1.0]
    """
    from sklearn.neighbors import NearestNeighbors

    nq, nr = Xq.shape[0], Xr.shape[0]
    k = min(k, nr)
    keys = row_keys(Xr)
    if exponent is None:
        exponent = scale_exponent(max(float(np.max(np.abs(a))) for a in (Xq, Xr)))
    Xq, Xr = (np.asarray(a, dtype=np.float64) * math.ldexp(1.0, -exponent) for a in (Xq, Xr))
    if nq * nr * Xr.shape[1] <= SMALL_SEARCH:  # every pair, measured directly
        dist, idx = _closest(Xq, Xr, np.broadcast_to(np.arange(nr), (nq, nr)), keys, k)
    else:
        centre = Xr.mean(axis=0)
        R, Q = Xr - centre, Xq - centre
        slack = 1e-7 * float(np.sqrt(np.max(np.einsum("ij,ij->i", R, R))))
        search = NearestNeighbors().fit(R)
        dist = np.empty((nq, k))
        idx = np.empty((nq, k), dtype=np.intp)
        todo, m = np.arange(nq), min(k + 2, nr)
        while todo.size:  # more candidates for the rows whose last ones may still tie
            d, j = search.kneighbors(Q[todo], n_neighbors=m)
            done = (d[:, -1] > d[:, k - 1] * (1 + TIE_RTOL) + slack) | (m == nr)
            rows = todo[done]
            dist[rows], idx[rows] = _closest(Xq[rows], Xr, j[done], keys, k)
            todo, m = todo[~done], min(2 * m, nr)
    with np.errstate(over="ignore"):
        dist = np.ldexp(dist, exponent)
    return dist, idx + offset, keys[idx]


def _closest(Xq, Xr, cand, keys, k):
    """Of the candidate rows ``cand`` of each query, the ``k`` first by (distance, key, index)."""
    exact = np.empty(cand.shape)
    step = max(1, 2**22 // max(cand.shape[1] * Xr.shape[1], 1))
    for a in range(0, cand.shape[0], step):
        diff = Xq[a : a + step, None, :] - Xr[cand[a : a + step]]
        exact[a : a + step] = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
    order = np.lexsort((cand, keys[cand], exact), axis=1)[:, :k]
    return np.take_along_axis(exact, order, 1), np.take_along_axis(cand, order, 1)


def knn_search(X: np.ndarray, n_neighbors: int = N_NEIGHBORS) -> tuple[np.ndarray, np.ndarray]:
    """Distances and indices of each point's ``n_neighbors + 1`` nearest points (itself first).

    Ties at equal distance are broken by the rows' values (:func:`nearest_rows`),
    so the graph does not depend on the order of the rows; a duplicate of a
    point may stand first in its place, at distance 0.
    """
    k = min(n_neighbors, X.shape[0] - 1)
    dist, idx, _ = nearest_rows(X, X, k + 1)
    return dist, idx


def knn_graph(dist: np.ndarray, idx: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    """The adaptive affinity of :func:`knn_affinity` from a neighbour search.

    ``dist`` and ``idx`` of shape (n_samples, k + 1) hold each point's
    nearest points, the point itself (or a duplicate at distance 0) first,
    however they were found (one machine or a cluster's blocks).
    """
    n, k = dist.shape[0], dist.shape[1] - 1
    if not np.isfinite(dist).all():
        raise ValueError(
            "Neighbour distances of X overflow float64 (X spans a range close to the "
            "largest float); rescale X (the kNN affinity does not change)."
        )
    sigmas = dist[:, k].copy()
    positive = sigmas[sigmas > 0]
    floor = positive.min() if positive.size else 1.0
    sigmas[sigmas <= 0] = floor  # a point with k duplicates: smallest positive scale
    # The affinity of each (point, neighbour) pair is symmetric in the pair
    # (both distances are the same arithmetic on the same rows); the union
    # with the transpose keeps every pair where either point is among the
    # other's neighbours.
    rows = np.repeat(np.arange(n), k + 1)
    cols, d = idx.ravel(), dist.ravel()
    w = np.exp(-0.5 * (d / sigmas[rows]) * (d / sigmas[cols]))  # no under- or overflow
    W = sp.csr_matrix((w, (rows, cols)), shape=(n, n))
    G = W.maximum(W.T).tocsr()
    G.setdiag(1.0)
    return G, sigmas


def knn_affinity(X: np.ndarray, n_neighbors: int = N_NEIGHBORS) -> tuple[sp.csr_matrix, np.ndarray]:
    """Sparse adaptive Gaussian affinity on the symmetrised kNN graph.

    ``sigma_i`` is the distance from ``x_i`` to its ``n_neighbors``-th
    neighbour; ``G_ij = exp(-||x_i - x_j||^2 / (2 sigma_i sigma_j))`` for
    every pair where either point is among the other's neighbours, 0
    elsewhere, and ``G_ii = 1``. Symmetric by construction.

    Returns
    -------
    G : csr_matrix of shape (n_samples, n_samples)
    sigmas : ndarray of shape (n_samples,)
    """
    return knn_graph(*knn_search(X, n_neighbors))


class KnnOperator:
    """Sparse diffusion operator of the adaptive kNN affinity (:func:`knn_affinity`).

    Built and applied on the host (scikit-learn's neighbour search and
    scipy.sparse); device input is copied to the host.
    """

    def __init__(self, X, n_neighbors: int = N_NEIGHBORS):
        X = to_numpy(X).astype(np.float64, copy=False)
        self._set_graph(*knn_affinity(X, n_neighbors))

    @classmethod
    def from_neighbors(cls, dist: np.ndarray, idx: np.ndarray) -> KnnOperator:
        """The operator of a neighbour search done elsewhere (see :func:`knn_graph`)."""
        op = cls.__new__(cls)
        op._set_graph(*knn_graph(dist, idx))
        return op

    def _set_graph(self, G: sp.csr_matrix, sigmas: np.ndarray) -> None:
        self.xp = namespace(np.empty(0))
        self.sigmas = sigmas
        self.degrees = np.asarray(G.sum(axis=1)).ravel()
        s = 1.0 / np.sqrt(self.degrees)
        self.A = sp.csr_matrix(G.multiply(s[:, None]).multiply(s[None, :]))
        self.n = G.shape[0]
        self.diagnostics = KernelDiagnostics.from_degrees(self.degrees)

    def matmat(self, V: np.ndarray) -> np.ndarray:
        return self.A @ V

    def toarray(self) -> np.ndarray:
        return self.A.toarray()
