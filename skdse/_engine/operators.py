"""Diffusion operators that the solvers multiply with, and what an operator is.

Each operator is the symmetric ``A = D^-1/2 G D^-1/2`` of some affinity G and
satisfies :class:`Operator`: ``matmat(V) -> A @ V`` for a block of vectors,
``toarray()``, the degrees ``d = G 1`` (``sqrt(d)/||sqrt(d)||`` is A's top
eigenvector, eigenvalue 1) and the kernel diagnostics.

- :class:`DenseOperator`: the N x N array (built by :func:`dense_operator`).
- :class:`MatrixFreeOperator`: recomputes Gaussian kernel blocks from X for
  every product (:func:`block_row_products`, shared with the cluster's
  operator); memory O(N * block) instead of O(N^2).
- :class:`skdse._engine.knn.KnnOperator`: the sparse adaptive kNN affinity.
- :class:`AffinityOperator`: the user's own affinity (``affinity="precomputed"``),
  multiplied as it was given (dense on any device, or ``scipy.sparse``).
- :class:`skdse._engine.dask.DaskOperator`,
  :class:`skdse._engine.dask.DaskMatrixFreeOperator` and
  :class:`skdse._engine.dask.DaskAffinityOperator`: the same on a cluster.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Protocol, runtime_checkable

import numpy as np
from array_api_compat import device
from threadpoolctl import OpenBLASController, threadpool_limits

from .backend import is_numpy, namespace, to_numpy
from .kernels import (
    KernelDiagnostics,
    diffusion_operator,
    kernel_block,
    kernel_coordinates,
    scale_in_place,
)
from .resources import usable_cpu_count


@runtime_checkable
class Operator(Protocol):
    """What the solvers need from a diffusion operator ``A = D^-1/2 G D^-1/2``.

    Every operator of the engine satisfies it, in memory or on a cluster
    (``isinstance(op, Operator)`` checks the names; ``tests/test_operators.py``
    checks the behaviour of each).

    Attributes
    ----------
    n : int
        Rows (points) of the operator.
    xp : namespace
        The array namespace ``matmat`` takes and returns.
    degrees : array of shape (n,)
        ``G 1`` in float64; ``sqrt(degrees)`` spans A's top eigenvector.
    diagnostics : KernelDiagnostics
        The affinities summarised, for the entry points' warnings.
    """

    n: int
    xp: Any
    degrees: Any
    diagnostics: KernelDiagnostics

    def matmat(self, V):
        """``A @ V`` in float64 for a block V of shape (n, m)."""

    def toarray(self):
        """A as an (n, n) array of ``xp`` (on the client, for a cluster's operator)."""


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
    """A diffusion operator held as an N x N array ``A`` with the degrees it came from.

    Built from X by :func:`dense_operator`, or from a matrix computed
    elsewhere (a cluster's blocks gathered). A float32 ``A`` halves the
    memory and the time of each product; products come back in float64.

    Examples
    --------
    >>> import numpy as np
    >>> from skdse._engine.operators import dense_operator
    >>> op = dense_operator(np.array([[0.0], [1.0], [3.0]]), 1.0)
    >>> op.n, op.matmat(np.ones((3, 1))).shape
    (3, (3, 1))
    """

    def __init__(self, A, degrees):
        self.xp = namespace(A)
        self.A, self.degrees = A, degrees
        self.n = A.shape[0]
        self.diagnostics = KernelDiagnostics.from_degrees(degrees)

    def matmat(self, V):
        xp = self.xp
        return xp.astype(self.A @ xp.astype(V, self.A.dtype), xp.float64)

    def toarray(self):
        return self.A


def dense_operator(X, sigma: float, dtype=None) -> DenseOperator:
    """The :class:`DenseOperator` of X's Gaussian affinity at ``sigma``, on X's device."""
    return DenseOperator(*diffusion_operator(X, sigma, dtype))


def block_row_products(
    Li, Rj, SVi, SVj, shared_from: int, method, gamma, dtype, tile_cols, xp=None
):
    """The products of one block of rows of a symmetric Gaussian kernel, in column tiles.

    The kernel block ``G = kernel_block(Li, Rj)`` (rows Li, columns Rj of
    :class:`~skdse._engine.kernels.KernelCoordinates`) is formed ``tile_cols``
    columns at a time in ``dtype`` and used twice: ``left = G @ SVj`` for the
    block's rows and ``right = G[:, shared_from:].T @ SVi`` for its columns
    from ``shared_from`` on (those past the diagonal block, whose transposed
    block is never formed). Both sums are float64. The one matrix-free
    kernel product, for the in-memory operator (its row blocks) and the
    cluster's (its pairs of row chunks) alike.
    """
    xp = namespace(Li) if xp is None else xp
    dev = device(SVj)
    left = xp.zeros((Li.shape[0], SVj.shape[1]), dtype=xp.float64, device=dev)
    right = xp.zeros((Rj.shape[0] - shared_from, SVi.shape[1]), dtype=xp.float64, device=dev)
    for c0 in range(0, Rj.shape[0], tile_cols):
        c1 = min(c0 + tile_cols, Rj.shape[0])
        G = kernel_block(Li, Rj[c0:c1, ...], method, gamma, dtype, xp)
        left = left + xp.astype(G @ SVj[c0:c1, :], xp.float64)
        lo = max(c0, shared_from)  # columns past the diagonal block: use G twice
        if lo < c1:
            r = xp.astype(G[:, lo - c0 :].T @ SVi, xp.float64)
            right[lo - shared_from : c1 - shared_from, :] = (
                right[lo - shared_from : c1 - shared_from, :] + r
            )
    return left, right


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
            c = self._coords
            for start in my_starts:
                stop = min(start + self.block_rows, self.n)
                left, right = block_row_products(
                    c.L[start:stop, ...],
                    c.R[start:, ...],
                    SV[start:stop, :],
                    SV[start:, :],
                    stop - start,
                    c.method,
                    c.gamma,
                    self.dtype,
                    self.tile_cols,
                    xp,
                )
                acc[start:stop, :] = acc[start:stop, :] + left
                acc[stop:, :] = acc[stop:, :] + right
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


def check_degrees(degrees) -> None:
    """Refuse an affinity with a point whose row sums to 0 (no ``D^-1/2`` there).

    Only a precomputed affinity can have one (a zero row with a zero
    diagonal): the kernels built here give every point affinity 1 to itself.
    """
    zero = np.flatnonzero(~(to_numpy(degrees) > 0))
    if zero.size:
        rows = ", ".join(str(int(i)) for i in zero[:5]) + (", ..." if zero.size > 5 else "")
        raise ValueError(
            f"X (affinity='precomputed'): {zero.size} point(s) (row {rows}) have affinity 0 "
            "to every point, themselves included (the row sums to 0), so the diffusion "
            "operator D^-1/2 G D^-1/2 is undefined there. Give every point a positive "
            "self-affinity (a diagonal of 1, as the Gaussian kernel has) or drop isolated "
            "points. Under max_samples or DSMI the rows are those of a subsample's or a "
            "class's sub-affinity, where a point's neighbours may all be left out."
        )


class AffinityOperator:
    """The diffusion operator of an affinity G given as it is (``affinity="precomputed"``).

    ``degrees = G 1`` (checked positive, :func:`check_degrees`) and
    ``A V = s * (G (s * V))`` with ``s = 1 / sqrt(degrees)``: slq multiplies
    with G itself, in its float64, without a second N x N array. G is
    dense on any array-API device or a ``scipy.sparse`` matrix (a kNN graph
    stays sparse). ``toarray()`` builds A in ``dtype`` for the exact solver.

    Examples
    --------
    >>> import numpy as np
    >>> from skdse._engine.operators import AffinityOperator
    >>> op = AffinityOperator(np.array([[0.0, 1.0], [1.0, 0.0]]))
    >>> op.degrees.tolist(), np.linalg.eigvalsh(op.toarray()).tolist()
    ([1.0, 1.0], [-1.0, 1.0])
    """

    def __init__(self, G, dtype: str = "float64"):
        self.G = G
        self.xp = namespace(G)  # NumPy's for scipy.sparse
        self.n = G.shape[0]
        self.dtype = dtype
        self._set_degrees(self._row_sums())

    def _set_degrees(self, degrees) -> None:
        check_degrees(degrees)
        self.degrees = degrees
        self._scale = 1.0 / self.xp.sqrt(degrees)
        self.diagnostics = KernelDiagnostics.from_degrees(degrees)

    def _row_sums(self):
        if _is_sparse(self.G):
            return np.asarray(self.G.sum(axis=1), dtype=np.float64).ravel()
        return self.xp.sum(self.xp.astype(self.G, self.xp.float64), axis=1)

    def _product(self, SV):
        """``G @ SV`` in float64."""
        return self.xp.astype(self.G @ SV, self.xp.float64)

    def _dense(self, dtype: str):
        """G as a new dense array of ``dtype`` that A may be built in."""
        if _is_sparse(self.G):
            return self.G.toarray().astype(dtype, copy=False)
        return self.xp.astype(self.G, getattr(self.xp, dtype), copy=True)

    def matmat(self, V):
        s = self._scale[:, None]
        return s * self._product(s * V)

    def toarray(self):
        A = self._dense(self.dtype)
        return scale_in_place(A, self.xp.astype(self._scale, A.dtype))


def _is_sparse(G) -> bool:
    import scipy.sparse as sp

    return sp.issparse(G)
