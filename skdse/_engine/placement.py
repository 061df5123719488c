"""Where X lives, and how the engine's work on it runs there: the one dispatch point.

:func:`placement_of` is the only place in skdse that tells a dask array from
an in-memory one. Everything that differs between them (checking X, the
adaptive bandwidth, gathering subsamples, how many joblib workers may run
terms, which memory an operator lives in, how each operator is built) is a
method of a :class:`Placement`: :class:`LocalPlacement` for NumPy, CuPy,
PyTorch and any array-API array (computed on its own device), and
:class:`skdse._engine.dask.ClusterPlacement` for a row-chunked dask array
(computed on the cluster, Dask imported only then).
"""

from __future__ import annotations

from typing import Protocol

from array_api_compat import device

from . import resources
from .backend import (
    device_memory_bytes,
    free_memory,
    is_numpy,
    namespace,
    take_rows,
    to_backend,
)
from .inputs import check_local_affinity, check_local_X
from .kernels import resolve_bandwidth
from .knn import KnnOperator, knn_operator
from .operators import (
    AffinityOperator,
    DenseOperator,
    MatrixFreeOperator,
    Operator,
    dense_operator,
)
from .slq import LocalVectors, VectorSpace

#: Rows of a matrix-free kernel block, per thread.
MATRIX_FREE_BLOCK = 512


def is_dask_array(X) -> bool:
    """Whether X is a dask array (tested without importing Dask)."""
    return type(X).__module__.split(".")[0] == "dask" and hasattr(X, "chunks")


class Placement(Protocol):
    """What the engine asks of the place X lives in."""

    #: Whether slq's Lanczos vectors share the memory the operator lives in.
    operator_on_client: bool

    def to_backend(self, X, backend: str):
        """X on the requested backend (``"auto"``: where it is)."""

    def in_memory(self, X):
        """X as an array of this process (a cluster's gathered), for the dense-only measures."""

    def validate(self, X, input_name: str = "X"):
        """X checked (2-D, real, finite, at least 2 rows) as float64, where it lives."""

    def validate_affinity(self, X, input_name: str = "X"):
        """A precomputed affinity checked (as ``validate``, and square, non-negative,
        symmetric: :func:`~skdse._engine.inputs.check_affinity_values`) as float64."""

    def all_rows_equal(self, X) -> bool:
        """Whether every row of X is the same point."""

    def resolve_bandwidth(self, X, bandwidth, random_state=None) -> float:
        """The Gaussian width sigma of a bandwidth specification on X."""

    def take(self, X, idx, pairwise: bool = False):
        """The points ``idx`` (sorted host integers) of X, where X lives: its rows, or for
        an affinity (``pairwise``) the principal sub-matrix, rows and columns ``idx``."""

    def row_sets(self, X, picks, pairwise: bool = False):
        """An iterable of ``take(X, p, pairwise)`` for each ``p`` of ``picks``."""

    def term_jobs(self, X, n_jobs):
        """The joblib workers that may compute independent terms on X at once."""

    def operator_memory(self, X) -> int | None:
        """Bytes available where a stored operator would live (None: unknown)."""

    def client_memory(self, X) -> int | None:
        """Bytes free on X's device where the solver's vectors live (None: host memory)."""

    def exact_operator(self, X, sigma: float, dtype: str) -> Operator:
        """The Gaussian operator in ``dtype``, whole where the eigensolver runs."""

    def dense_operator(self, X, sigma: float) -> Operator:
        """The Gaussian operator stored in float32 for slq's products."""

    def matrix_free_operator(self, X, sigma: float, n_threads: int) -> Operator:
        """The Gaussian operator recomputed from X for each product."""

    def knn_operator(
        self,
        X,
        n_neighbors: int,
        neighbors: str = "exact",
        random_state: int | None = None,
        n_threads: int = 1,
    ) -> Operator:
        """The adaptive kNN operator of X, its neighbours searched as ``neighbors`` says
        (an approximate search seeded with ``random_state``, on ``n_threads`` threads)."""

    def affinity_operator(self, X, dtype: str) -> Operator:
        """The operator of the precomputed affinity X, multiplied as given; its
        ``toarray()`` is A in ``dtype`` on the client, for the exact solver."""

    def vector_memory(self, X, host_operator: bool = False) -> int | None:
        """Bytes available where slq's vectors live (None: host memory); ``host_operator``:
        the operator (a kNN graph searched in memory) is on the host whatever X's device."""

    def vector_space(self, operator) -> VectorSpace:
        """Where slq's vectors for ``operator`` live (what its ``matmat`` takes)."""

    def restarting(self, run, rng):
        """``run(rng)``; where vectors can be lost (a cluster), run again from ``rng``'s state."""

    def release(self, X) -> None:
        """Give back the memory the computations on X left cached."""


class LocalPlacement:
    """An array in this process (NumPy, CuPy, PyTorch, ...): computed on its device.

    Examples
    --------
    >>> import numpy as np
    >>> from skdse._engine.placement import placement_of
    >>> place = placement_of(np.ones((3, 2)))
    >>> place.all_rows_equal(np.ones((3, 2)))
    True
    """

    operator_on_client = True

    def to_backend(self, X, backend: str):
        return to_backend(X, backend)[1]

    def in_memory(self, X):
        return X

    def validate(self, X, input_name: str = "X"):
        return check_local_X(X, input_name)

    def validate_affinity(self, X, input_name: str = "X"):
        return check_local_affinity(X, input_name)

    def all_rows_equal(self, X) -> bool:
        xp = namespace(X)
        return not bool(xp.any(xp.max(X, axis=0) > xp.min(X, axis=0)))

    def resolve_bandwidth(self, X, bandwidth, random_state=None) -> float:
        return resolve_bandwidth(X, bandwidth, random_state=random_state)

    def take(self, X, idx, pairwise: bool = False):
        rows = take_rows(X, idx)
        if not pairwise:
            return rows
        xp = namespace(rows)
        if is_numpy(xp):  # NumPy and scipy.sparse
            return rows[:, idx]
        return xp.take(rows, xp.asarray(idx, device=device(rows)), axis=1)

    def row_sets(self, X, picks, pairwise: bool = False):
        return (self.take(X, p, pairwise) for p in picks)  # taken as joblib dispatches

    def term_jobs(self, X, n_jobs):
        # device arrays: the terms run in turn on their device
        return n_jobs if is_numpy(namespace(X)) else None

    def operator_memory(self, X) -> int | None:
        free = self.client_memory(X)
        return free if free is not None else resources.available_memory_bytes()

    def client_memory(self, X) -> int | None:
        return device_memory_bytes(namespace(X), X)

    def exact_operator(self, X, sigma: float, dtype: str) -> DenseOperator:
        return dense_operator(X, sigma, getattr(namespace(X), dtype))

    def dense_operator(self, X, sigma: float) -> DenseOperator:
        return dense_operator(X, sigma, namespace(X).float32)

    def matrix_free_operator(self, X, sigma: float, n_threads: int) -> MatrixFreeOperator:
        return MatrixFreeOperator(X, sigma, block_rows=MATRIX_FREE_BLOCK, n_threads=n_threads)

    def knn_operator(
        self,
        X,
        n_neighbors: int,
        neighbors: str = "exact",
        random_state: int | None = None,
        n_threads: int = 1,
    ) -> KnnOperator:
        return knn_operator(X, n_neighbors, neighbors, random_state, n_threads)

    def affinity_operator(self, X, dtype: str) -> AffinityOperator:
        return AffinityOperator(X, dtype)

    def vector_memory(self, X, host_operator: bool = False) -> int | None:
        return None if host_operator else self.client_memory(X)

    def vector_space(self, operator) -> LocalVectors:
        return LocalVectors(operator.xp, device(operator.degrees))

    def restarting(self, run, rng):
        return run(rng)

    def release(self, X) -> None:
        free_memory(namespace(X))


LOCAL = LocalPlacement()


def placement_of(X) -> Placement:
    """The :class:`Placement` of X: the cluster's for a dask array, else this process's.

    Examples
    --------
    >>> import numpy as np
    >>> from skdse._engine.placement import placement_of
    >>> type(placement_of(np.zeros((2, 2)))).__name__
    'LocalPlacement'
    """
    if is_dask_array(X):
        from .dask import ClusterPlacement

        return ClusterPlacement()
    return LOCAL
