"""Dask arrays: the kernel built block by block on a cluster.

X arrives as a ``dask.array`` chunked by rows. Kernel blocks for every pair of
row chunks are built with ``dask.array.blockwise`` (no task ever holds the
N x N kernel), degrees come from block reductions and the symmetric
normalisation is applied blockwise. The exact solver then gathers the
normalised operator (it has to fit one machine); slq multiplies with the
persisted blocks on the cluster, one task per block and Lanczos step.
Computations run on the scheduler that ``dask.config`` or the current
``distributed.Client`` points at. Dask is imported only when a dask array
arrives.
"""

from __future__ import annotations

import math

import numpy as np


def is_dask_array(X) -> bool:
    return type(X).__module__.split(".")[0] == "dask" and hasattr(X, "chunks")


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
    if not bool(finite.compute()):
        raise ValueError(f"Input {input_name} contains NaN or infinity (found when computing it).")
    return X


def _kernel_block(zi, zj, sqi, sqj):
    d2 = sqi[:, None] + sqj[None, :] - 2.0 * (zi @ zj.T)
    np.maximum(d2, 0.0, out=d2)
    np.negative(d2, out=d2)
    return np.exp(d2, out=d2)


def dask_diffusion_operator(X, sigma: float, dtype=np.float64):
    """Lazy normalised operator ``D^-1/2 G D^-1/2`` of a row-chunked dask X, and the degrees.

    Blocks follow X's row chunks in both directions.
    """
    import dask.array as da

    Z = ((X - X.mean(axis=0)) / (sigma * math.sqrt(2.0))).astype(dtype)
    sq = (Z * Z).sum(axis=1)
    G = da.blockwise(
        _kernel_block, "ij", Z, "ik", Z, "jk", sq, "i", sq, "j", dtype=dtype, concatenate=True
    )
    degrees = G.sum(axis=1, dtype=np.float64)
    s = (1.0 / da.sqrt(degrees)).astype(dtype)
    return G * s[:, None] * s[None, :], degrees


class DaskOperator:
    """Normalised operator persisted blockwise on the cluster, for slq."""

    def __init__(self, X, sigma: float):
        import dask

        from ._kernels import KernelDiagnostics

        A, degrees = dask_diffusion_operator(X, sigma, np.float32)
        self.A, degrees = dask.persist(A, degrees)
        self.degrees = np.asarray(degrees.compute(), dtype=np.float64)
        self.n = X.shape[0]
        self.xp = _numpy_namespace()
        self.diagnostics = KernelDiagnostics.from_degrees(self.degrees)

    def matmat(self, V: np.ndarray) -> np.ndarray:
        import dask.array as da

        Vd = da.from_array(V.astype(np.float32), chunks=(self.A.chunks[1], V.shape[1]))
        return np.asarray((self.A @ Vd).compute(), dtype=np.float64)


def _numpy_namespace():
    from array_api_compat import array_namespace

    return array_namespace(np.empty(0))
