"""The kNN operator on a Dask cluster (:class:`skdse._engine.dask.DaskKnnOperator`):
time per product against the in-memory :class:`skdse._engine.knn.KnnOperator`.

Run: ``python benchmarks/bench_dask_knn.py [--n 50000] [--dims 64] [--columns 96] [--chunk 5000]``

Data: scikit-learn's make_blobs (10 centres), rows in make_blobs' shuffled
order (every row block has neighbours in every chunk) and sorted by centre
(a row block's neighbours lie in a few chunks). On a LocalCluster of 2
worker processes with 1 thread each, ``n_neighbors = 15``, the exact
blockwise search. Per product (median of 3): the in-memory operator
(scipy.sparse, this process); the cluster operator on a NumPy V (sent to
the workers, the product gathered: today's slq); on a dask V persisted on
the workers, the product persisted there (the Lanczos basis on the
cluster), with each row block restricted to the column chunks it touches
(the operator's design) and, for comparison, reading every chunk of V.
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import machine, median_time, table  # noqa: E402

K = 15


def _widen(block, touched, bounds):
    """A row block restricted to its touched column chunks, back on every column (a task)."""
    import scipy.sparse as sp

    cols = np.concatenate([np.arange(bounds[j], bounds[j + 1]) for j in touched])
    return sp.csr_matrix(
        (block.data, cols[block.indices], block.indptr), (block.shape[0], bounds[-1])
    )


def reading_every_chunk(op):
    """A copy of ``op`` whose row blocks span every column chunk (no restriction)."""
    import copy

    import dask

    full = copy.copy(op)
    every = np.arange(len(op.row_chunks))
    full._blocks = dask.persist(
        *[dask.delayed(_widen)(b, t, op._bounds) for b, t in zip(op._blocks, op._touched)]
    )
    full._touched = [every] * len(op.row_chunks)
    return full


def _product(op, V) -> None:
    """``op.matmat(V)`` persisted on the cluster (a dask V), or gathered (a NumPy V)."""
    import distributed

    AV = op.matmat(V)
    if not isinstance(AV, np.ndarray):
        distributed.wait(AV.persist())


def measure(client, X_np: np.ndarray, V_np: np.ndarray, chunk: int) -> list[str]:
    """Build times, blocks touched and seconds per product, as a table row."""
    import dask.array as da
    import distributed

    from skdse._engine.dask import DaskKnnOperator
    from skdse._engine.knn import knn_operator

    X = client.persist(da.from_array(X_np, chunks=(chunk, X_np.shape[1])))
    distributed.wait(X)
    start = time.perf_counter()
    local = knn_operator(X_np, K)
    local_build = time.perf_counter() - start
    start = time.perf_counter()
    op = DaskKnnOperator(X, K)
    cluster_build = time.perf_counter() - start
    V = client.persist(da.from_array(V_np, chunks=(chunk, V_np.shape[1])))
    distributed.wait(V)
    full = reading_every_chunk(op)
    distributed.wait(distributed.futures_of(full._blocks))
    ref = local.matmat(V_np)
    for name, o in (("restricted", op), ("every chunk", full)):
        AV = o.matmat(V).compute()
        assert np.abs(AV - ref).max() <= 1e-12 * np.abs(ref).max(), name
    times = [
        median_time(lambda: local.matmat(V_np)),
        median_time(lambda: _product(op, V_np)),
        median_time(lambda: _product(op, V)),
        median_time(lambda: _product(full, V)),
    ]
    touched = sum(map(len, op._touched))
    return [
        f"{local_build:.1f}",
        f"{cluster_build:.1f}",
        f"{touched}/{len(op.row_chunks) ** 2}",
        *(f"{t:.3f}" for t in times),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=50000)
    parser.add_argument("--dims", type=int, default=64)
    parser.add_argument("--columns", type=int, default=96)
    parser.add_argument("--chunk", type=int, default=5000)
    args = parser.parse_args()

    import distributed
    from sklearn.datasets import make_blobs

    n, chunk = args.n, args.chunk
    X_all, labels = make_blobs(n, args.dims, centers=10, random_state=0)
    V_np = np.random.default_rng(0).normal(size=(n, args.columns))
    rows = []
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        for order in ("shuffled", "clustered"):
            X_np = X_all if order == "shuffled" else X_all[np.argsort(labels, kind="stable")]
            rows.append([order, *measure(client, X_np, V_np, chunk)])
    header = [
        "rows",
        "build in memory (s)",
        "build on cluster (s)",
        "blocks touched",
        "product in memory (s)",
        "cluster, NumPy V (s)",
        "cluster, dask V (s)",
        "dask V, every chunk (s)",
    ]
    print(
        f"\nmachine: {machine()}; blobs N = {n}, D = {args.dims}, k = {K}, V: {args.columns} "
        f"columns, row chunks of {chunk}; LocalCluster 2 workers x 1 thread\n"
    )
    print(table(header, rows))


if __name__ == "__main__":
    main()
