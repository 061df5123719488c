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

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from ._kernels import KernelDiagnostics, diffusion_operator

#: Default number of neighbours of the kNN operator.
N_NEIGHBORS = 15


class DenseOperator:
    """The dense symmetric diffusion operator of X at bandwidth sigma.

    ``dtype=np.float32`` halves the memory and the time of each product;
    the Lanczos solver accumulates in float64 either way.
    """

    def __init__(self, X: np.ndarray, sigma: float, dtype=np.float64):
        self.A, self.degrees = diffusion_operator(X, sigma, dtype)
        self.n = X.shape[0]
        self.diagnostics = KernelDiagnostics.from_degrees(self.degrees)

    def matmat(self, V: np.ndarray) -> np.ndarray:
        return (self.A @ V.astype(self.A.dtype, copy=False)).astype(np.float64, copy=False)

    def toarray(self) -> np.ndarray:
        return self.A


class MatrixFreeOperator:
    """Gaussian diffusion operator whose kernel blocks are recomputed per product.

    Each product makes one pass over the N x N kernel, a row block at a
    time: ``-||z_i - z_j||^2`` comes out of a single matrix product of
    augmented coordinates, then one in-place ``exp``. Blocks are spread
    over threads (BLAS pinned to one thread each). Kernel blocks are formed
    in ``dtype`` (float32 by default: twice as fast, affinities accurate to
    about 1e-5 relative, entropies to far better than the solver's own
    error); products accumulate in float64.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    sigma : float
    block_rows : int, default=1024
        Rows of the kernel formed at once per thread (memory
        ``block_rows * n_samples * itemsize`` per thread).
    dtype : numpy dtype, default=np.float32
    n_threads : int or None
        Threads over row blocks; None uses the CPU count.
    """

    def __init__(self, X, sigma, *, block_rows=1024, dtype=np.float32, n_threads=None):
        Z = (X - X.mean(axis=0)) / (sigma * np.sqrt(2.0))
        sq = np.einsum("ij,ij->i", Z, Z)
        ones = np.ones((Z.shape[0], 1))
        # [2z, -|z|^2, -1] . [z, 1, |z|^2] = -|z_i - z_j|^2
        self._L = np.hstack([2.0 * Z, -sq[:, None], -ones]).astype(dtype)
        self._R = np.hstack([Z, ones, sq[:, None]]).astype(dtype)
        self.n = Z.shape[0]
        self.dtype = np.dtype(dtype)
        self.block_rows = int(block_rows)
        self.n_threads = n_threads or os.cpu_count() or 1
        self._scale = np.ones(self.n)
        self.degrees = self._kernel_matmat(np.ones((self.n, 1)))[:, 0]
        self._scale = 1.0 / np.sqrt(self.degrees)
        self.diagnostics = KernelDiagnostics.from_degrees(self.degrees)

    def _kernel_matmat(self, V: np.ndarray) -> np.ndarray:
        """``S G S V`` with ``S = diag(self._scale)``, one pass over G."""
        SV = (self._scale[:, None] * V).astype(self.dtype)
        out = np.empty((self.n, V.shape[1]))
        starts = range(0, self.n, self.block_rows)

        def work(start):
            stop = min(start + self.block_rows, self.n)
            G = self._L[start:stop] @ self._R.T
            np.exp(G, out=G)
            out[start:stop] = G @ SV
            out[start:stop] *= self._scale[start:stop, None]

        with threadpool_limits(limits=1, user_api="blas"):
            if self.n_threads == 1:
                for s in starts:
                    work(s)
            else:
                with ThreadPoolExecutor(self.n_threads) as pool:
                    list(pool.map(work, starts))
        return out

    def matmat(self, V: np.ndarray) -> np.ndarray:
        return self._kernel_matmat(V)

    def toarray(self) -> np.ndarray:
        return self._kernel_matmat(np.eye(self.n))


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
    from sklearn.neighbors import NearestNeighbors

    n = X.shape[0]
    k = min(n_neighbors, n - 1)
    nn = NearestNeighbors(n_neighbors=k + 1).fit(X)
    dist, idx = nn.kneighbors(X)
    # Column 0 is the point itself (or a duplicate at distance 0).
    sigmas = dist[:, k].copy()
    positive = sigmas[sigmas > 0]
    floor = positive.min() if positive.size else 1.0
    sigmas[sigmas <= 0] = floor  # a point with k duplicates: smallest positive scale
    rows = np.repeat(np.arange(n), k + 1)
    cols = idx.ravel()
    pattern = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(n, n))
    pattern = ((pattern + pattern.T) > 0).tocoo()
    r, c = pattern.row, pattern.col
    d2 = np.einsum("ij,ij->i", X[r] - X[c], X[r] - X[c])
    w = np.exp(-d2 / (2.0 * sigmas[r] * sigmas[c]))
    w[r == c] = 1.0
    G = sp.csr_matrix((w, (r, c)), shape=(n, n))
    G.setdiag(1.0)
    return G, sigmas


class KnnOperator:
    """Sparse diffusion operator of the adaptive kNN affinity (:func:`knn_affinity`)."""

    def __init__(self, X: np.ndarray, n_neighbors: int = N_NEIGHBORS):
        G, self.sigmas = knn_affinity(X, n_neighbors)
        self.degrees = np.asarray(G.sum(axis=1)).ravel()
        s = 1.0 / np.sqrt(self.degrees)
        self.A = sp.csr_matrix(G.multiply(s[:, None]).multiply(s[None, :]))
        self.n = X.shape[0]
        self.diagnostics = KernelDiagnostics.from_degrees(self.degrees)

    def matmat(self, V: np.ndarray) -> np.ndarray:
        return self.A @ V

    def toarray(self) -> np.ndarray:
        return self.A.toarray()
