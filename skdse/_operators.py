"""Diffusion operators that the Lanczos solver multiplies with.

Each operator is the symmetric ``A = D^-1/2 G D^-1/2`` of some affinity G
and offers ``matmat(V) -> A @ V`` for a block of vectors, the degrees
``d = G 1`` (``sqrt(d)/||sqrt(d)||`` is A's top eigenvector, eigenvalue 1)
and the kernel diagnostics.

- :class:`DenseOperator`: the N x N array, built once (8 N^2 bytes).
- :class:`MatrixFreeOperator`: recomputes Gaussian kernel blocks from X for
  every product; memory O(N * block) instead of O(N^2).
- :class:`KnnOperator`: a sparse adaptive-bandwidth kernel on the k-nearest-
  neighbour graph (``bandwidth="knn"``), a different, documented estimand.
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

from ._backend import is_numpy, namespace, to_numpy
from ._kernels import KernelDiagnostics, diffusion_operator
from ._resources import usable_cpu_count

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
    ``dtype`` (float32 by default: twice as fast, affinities accurate to
    about 1e-5 relative, entropies to far better than the solver's own
    error); products accumulate in float64.

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
        process may use (:func:`~skdse._resources.usable_cpu_count`: CPU
        affinity and cgroup quota, not the machine's core count).
    """

    def __init__(self, X, sigma, *, block_rows=1024, dtype=None, n_threads=None):
        xp = self.xp = namespace(X)
        self.dtype = xp.float32 if dtype is None else dtype
        dev = device(X)
        Z = (xp.astype(X, xp.float64) - xp.mean(X, axis=0)) / (sigma * math.sqrt(2.0))
        sq = xp.sum(Z * Z, axis=1)[:, None]
        ones = xp.ones((Z.shape[0], 1), dtype=xp.float64, device=dev)
        # [2z, -|z|^2, -1] . [z, 1, |z|^2] = -|z_i - z_j|^2
        self._L = xp.astype(xp.concat([2.0 * Z, -sq, -ones], axis=1), self.dtype)
        self._R = xp.astype(xp.concat([Z, ones, sq], axis=1), self.dtype)
        self.n = Z.shape[0]
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
                    G = xp.exp(self._L[start:stop, :] @ self._R[c0:c1, :].T)
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
        return self._kernel_matmat(xp.eye(self.n, dtype=xp.float64, device=device(self._L)))


def knn_search(X: np.ndarray, n_neighbors: int = N_NEIGHBORS) -> tuple[np.ndarray, np.ndarray]:
    """Distances and indices of each point's ``n_neighbors + 1`` nearest points (itself first)."""
    from sklearn.neighbors import NearestNeighbors

    k = min(n_neighbors, X.shape[0] - 1)
    return NearestNeighbors(n_neighbors=k + 1).fit(X).kneighbors(X)


def knn_graph(dist: np.ndarray, idx: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    """The adaptive affinity of :func:`knn_affinity` from a neighbour search.

    ``dist`` and ``idx`` of shape (n_samples, k + 1) hold each point's
    nearest points, the point itself (or a duplicate at distance 0) first,
    however they were found (one machine or a cluster's blocks).
    """
    n, k = dist.shape[0], dist.shape[1] - 1
    sigmas = dist[:, k].copy()
    positive = sigmas[sigmas > 0]
    floor = positive.min() if positive.size else 1.0
    sigmas[sigmas <= 0] = floor  # a point with k duplicates: smallest positive scale
    # Squared distances on the kNN graph, offset by 1 so that a distance of 0
    # (duplicates) is still stored; the union with the transpose then keeps
    # every pair where either point is among the other's neighbours.
    rows = np.repeat(np.arange(n), k + 1)
    D2 = sp.csr_matrix((dist.ravel() ** 2 + 1.0, (rows, idx.ravel())), shape=(n, n))
    D2 = D2.maximum(D2.T).tocoo()
    r, c = D2.row, D2.col
    w = np.exp(-(D2.data - 1.0) / (2.0 * sigmas[r] * sigmas[c]))
    w[r == c] = 1.0
    G = sp.csr_matrix((w, (r, c)), shape=(n, n))
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
