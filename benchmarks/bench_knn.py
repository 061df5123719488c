"""Exact against approximate neighbour search for ``affinity="knn"``: time, recall, DSE.

Run: ``python benchmarks/bench_knn.py [--sizes 10000 20000 50000] [--dims 64] [--data blobs]``

For each N: the exact search (:func:`skdse._engine.knn.knn_search`,
``neighbors="exact"``) and pynndescent's NN-descent (``neighbors="approximate"``),
both with ``n_neighbors=15``, timed once each in the same process after a
warm-up that compiles pynndescent's numba code (its one-off cost, paid once
per process, is printed separately); the recall of the approximate
neighbour lists against the exact ones (the fraction of each point's 16
exact nearest, itself included, that the approximate search found); and
DSE (slq, ``max_samples=None``, ``random_state=0``, so both use the same
probes) with either search. Data: ``blobs`` (scikit-learn's make_blobs, 10
centres, unit spread) or ``subspace`` (skdse.datasets.make_noisy_subspace,
a 5-dimensional subspace, noise 0.05). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import machine, table  # noqa: E402

K = 15


def data(name: str, n: int, d: int) -> np.ndarray:
    if name == "blobs":
        from sklearn.datasets import make_blobs

        return make_blobs(n, d, centers=10, random_state=0)[0]
    from skdse.datasets import make_noisy_subspace

    return make_noisy_subspace(n, 5, d, noise=0.05, random_state=0)


def recall(exact: np.ndarray, approx: np.ndarray) -> float:
    """Mean fraction of each row's exact neighbours that the approximate row holds."""
    hits = sum(len(set(a).intersection(b)) for a, b in zip(exact, approx))
    return hits / exact.size


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main(argv=None):
    from skdse import diffusion_spectral_entropy
    from skdse._engine.knn import knn_search

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000, 20000, 50000])
    parser.add_argument("--dims", type=int, default=64)
    parser.add_argument("--data", choices=["blobs", "subspace"], default="blobs")
    parser.add_argument("--no-dse", action="store_true", help="time and recall only")
    args = parser.parse_args(argv)

    warm = np.random.default_rng(0).normal(size=(2000, args.dims))
    _, compile_s = timed(lambda: knn_search(warm, K, "approximate", 0))
    print(f"first approximate search in this process (numba compile): {compile_s:.1f} s")
    rows = []
    for n in args.sizes:
        X = data(args.data, n, args.dims)
        (_, exact_idx), exact_s = timed(lambda X=X: knn_search(X, K, "exact"))
        (_, approx_idx), approx_s = timed(lambda X=X: knn_search(X, K, "approximate", 0))
        r = recall(exact_idx, approx_idx)
        row = [str(n), f"{exact_s:.1f}", f"{approx_s:.1f}", f"{exact_s / approx_s:.2f}", f"{r:.4f}"]
        if not args.no_dse:
            dse = {
                how: diffusion_spectral_entropy(
                    X,
                    affinity="knn",
                    neighbors=how,
                    solver="slq",
                    max_samples=None,
                    random_state=0,
                )
                for how in ("exact", "approximate")
            }
            row += [
                f"{dse['exact']:.4f}",
                f"{dse['approximate']:.4f}",
                f"{abs(dse['exact'] - dse['approximate']):.4f}",
            ]
        rows.append(row)
        print(" | ".join(row), file=sys.stderr, flush=True)
    header = ["N", "exact s", "approximate s", "exact / approx", "recall"]
    if not args.no_dse:
        header += ["DSE exact", "DSE approx", "|ΔDSE| bits"]
    print(
        f"\nmachine: {machine()}; {args.data}, D = {args.dims}, n_neighbors = {K}; "
        f"numba compile once per process: {compile_s:.1f} s\n"
    )
    print(table(header, rows))


if __name__ == "__main__":
    main()
