"""DSE of dask arrays on a LocalCluster: time, peak memory per worker, task count.

Run: ``python benchmarks/bench_dask.py [--sizes 50000 100000 200000]
[--gaussian-sizes 50000] [--compare-n 20000] [--memory-limit 4GiB]``

Each row starts a fresh ``distributed.LocalCluster`` (1 thread per worker,
dashboard off, ``--memory-limit`` per worker) in a fresh subprocess, so that
the peak resident memory of every worker (ru_maxrss) and of the client is
that row's own. The data (a noisy 3-dimensional manifold in D = ``--dims``, 128) is
generated on the workers, chunk by chunk, so it never passes through the
client. ``solver="slq"``, ``max_samples=None``, default slq settings.

- kNN kernel (``affinity="knn"``) at ``--sizes``: neighbour search in a task
  per pair of row chunks, the sparse graph gathered, products on the client.
- Gaussian kernel (``bandwidth="scale"``) at ``--gaussian-sizes``: blocks
  persisted on the cluster while they fit half its memory, else recomputed
  on the workers for every Lanczos product (matrix-free; the "operator" column
  tells them apart by the tasks the cluster ran).
- ``--compare-n``: both kernels on 1 and on 2 workers.

A worker that exceeds its limit is restarted by its nanny; the table's
"restarts" column counts worker processes that changed during the row.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import machine, table  # noqa: E402

CHILD = r"""
import json, os, resource, sys, time
import numpy as np
import dask
import dask.array as da
from distributed import Client, LocalCluster, get_task_stream
from skdse import DiffusionSpectralEntropy

n, kernel, workers, limit, chunk_rows, D = sys.argv[1:7]
n, workers, chunk_rows, D = int(n), int(workers), int(chunk_rows), int(D)
d, noise = 3, 0.05

def make_chunk(i, rows, basis):
    rng = np.random.default_rng([0, i])
    return rng.uniform(size=(rows, d)) @ basis.T + rng.uniform(-noise, noise, size=(rows, D))

def peak_kib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

if __name__ == "__main__":
    basis, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(D, d)))
    sizes = [min(chunk_rows, n - s) for s in range(0, n, chunk_rows)]
    with LocalCluster(n_workers=workers, threads_per_worker=1, memory_limit=limit,
                      dashboard_address=None, processes=True) as cluster, Client(cluster) as client:
        X = da.concatenate([
            da.from_delayed(dask.delayed(make_chunk)(i, r, basis), shape=(r, D), dtype=float)
            for i, r in enumerate(sizes)
        ])
        pids = client.run(os.getpid)
        kw = dict(affinity="knn") if kernel == "knn" else dict(bandwidth="scale")
        start = time.perf_counter()
        with get_task_stream(client) as stream:
            est = DiffusionSpectralEntropy(solver="slq", max_samples=None, random_state=0,
                                           **kw).fit(X)
        elapsed = time.perf_counter() - start
        # matrix-free products recompute kernel blocks in "_pair_product" tasks
        matrix_free = any("_pair_product" in str(task["key"]) for task in stream.data)
        worker_peaks = client.run(peak_kib)
        restarts = len(set(pids.values()) - set(client.run(os.getpid).values()))
        limits = [w["memory_limit"] for w in client.scheduler_info()["workers"].values()]
        print(json.dumps(dict(
            n=n, kernel=kernel, workers=workers, seconds=elapsed, chunk_rows=chunk_rows, D=D,
            worker_peak_kib=sorted(worker_peaks.values()), limit_bytes=limits[0],
            client_peak_kib=peak_kib(), tasks=len(stream.data), restarts=restarts,
            operator=("matrix-free" if matrix_free else "persisted") if kernel != "knn"
            else "knn graph",
            entropy=est.entropy_, se=est.entropy_std_)))
"""


def run_row(n, kernel, workers, limit, chunk_rows, dims=128):
    args = [str(n), kernel, str(workers), limit, str(chunk_rows), str(dims)]
    out = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True)
    if out.returncode != 0:
        print(f"{kernel} N={n} workers={workers} FAILED:\n{out.stderr[-3000:]}", file=sys.stderr)
        return None
    res = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"{kernel} N={n} workers={workers}: {res['seconds']:.1f} s", file=sys.stderr)
    return res


def _row(r):
    gib = 2**20
    peaks = " / ".join(f"{p / gib:.2f}" for p in r["worker_peak_kib"])
    return [
        f"{r['n']}",
        r["kernel"],
        r["operator"],
        f"{r['workers']}",
        f"{r['chunk_rows']}",
        f"{r['seconds']:.1f}",
        peaks,
        f"{r['limit_bytes'] / 2**30:.1f}",
        f"{r['client_peak_kib'] / gib:.2f}",
        f"{r['tasks']}",
        f"{r['restarts']}",
        f"{r['entropy']:.3f} ± {r['se']:.3f}",
    ]


HEADER = [
    "N",
    "kernel",
    "operator",
    "workers",
    "chunk rows",
    "time s",
    "peak RSS per worker GiB",
    "limit GiB",
    "client peak GiB",
    "tasks",
    "restarts",
    "DSE (t=1) ± SE",
]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[50000, 100000, 200000])
    parser.add_argument("--gaussian-sizes", type=int, nargs="*", default=[50000])
    parser.add_argument("--compare-n", type=int, default=20000)
    parser.add_argument("--memory-limit", default="4GiB", help="per worker")
    parser.add_argument("--chunk-rows", type=int, default=5000)
    parser.add_argument("--dims", type=int, default=128, help="D of the generated manifold")
    args = parser.parse_args(argv)
    row = dict(limit=args.memory_limit, chunk_rows=args.chunk_rows, dims=args.dims)

    scaling = [run_row(n, "knn", 2, **row) for n in args.sizes]
    scaling += [run_row(n, "gaussian", 2, **row) for n in args.gaussian_sizes]
    compare = []
    if args.compare_n:
        for kernel in ("knn", "gaussian"):
            for workers in (1, 2):
                r = run_row(args.compare_n, kernel, workers, **row)
                compare.append(r)

    print(f"Machine: {machine()}; manifold d=3 in D={args.dims}\n")
    print("### Scaling (2 workers x 1 thread)\n")
    print(table(HEADER, [_row(r) for r in scaling if r]))
    if compare:
        print(f"\n### 1 vs 2 workers at N = {args.compare_n}\n")
        print(table(HEADER, [_row(r) for r in compare if r]))
        for kernel in ("knn", "gaussian"):
            pair = [r for r in compare if r and r["kernel"] == kernel]
            if len(pair) == 2:
                one, two = sorted(pair, key=lambda r: r["workers"])
                print(
                    f"\n{kernel}: 2 workers take {two['seconds'] / one['seconds']:.2f}x the time "
                    f"of 1 (speed-up {one['seconds'] / two['seconds']:.2f}x); "
                    f"|DSE difference| {abs(one['entropy'] - two['entropy']):.1e} bits"
                )
    over = [
        r for r in scaling + compare if r and max(r["worker_peak_kib"]) * 1024 > r["limit_bytes"]
    ]
    failed = [r for r in scaling + compare if r is None]
    print(
        f"\nRows over a worker's memory limit: {len(over)}; failed rows: {len(failed)}; "
        f"worker restarts: {sum(r['restarts'] for r in scaling + compare if r)}"
    )


if __name__ == "__main__":
    main()
