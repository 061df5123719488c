"""Accuracy and speed of solver="slq" against the exact spectrum.

Run: ``python benchmarks/bench_slq_accuracy.py [--sizes 2000 8000] [--seeds 5]``
     ``python benchmarks/bench_slq_accuracy.py --crossover`` (exact vs slq time by N)

For four data families and bandwidths from narrow to wide (including the
paper's sigma = 10 on unit-scale data), prints exact DSE, the slq mean and
spread over seeds, the worst absolute error in bits against the target
max(0.02, 0.5% of exact), and both times. One slq run serves every t (its
quadrature rule is evaluated at each t), as in the estimator.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import make_blobs

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import machine, median_time, table  # noqa: E402

from skdse._entropy import diffusion_spectrum  # noqa: E402
from skdse._kernels import resolve_bandwidth  # noqa: E402
from skdse._validation import check_entropy_params  # noqa: E402
from skdse.datasets import make_branching_tree, make_noisy_subspace  # noqa: E402

TS = (1, 2, 5)


def families(n: int):
    rng = np.random.default_rng(0)
    return {
        "uniform cube D=128": rng.uniform(size=(n, 128)),
        "manifold d=3 D=128": make_noisy_subspace(n, 3, 128, noise=0.05, random_state=0),
        "blobs k=6 D=32": make_blobs(n, n_features=32, centers=6, random_state=0)[0],
        "tree 8 branches D=50": make_branching_tree(8, n // 8, 50, random_state=0)[0],
    }


def bandwidths(X):
    s = resolve_bandwidth(X, "scale")
    return {"scale/4": s / 4, "scale": s, "scale*4": 4 * s, "sigma=10": 10.0}


def accuracy(sizes, n_seeds):
    exact_p = check_entropy_params(solver="exact")
    slq_p = check_entropy_params(solver="slq")
    rows, worst, speedups = [], 0.0, {}
    for n in sizes:
        for fam, X in families(n).items():
            # unit-scale data for the paper's fixed sigma: the uniform cube already is
            for bw_name, sigma in bandwidths(X).items():
                if bw_name == "sigma=10" and not fam.startswith("uniform"):
                    continue
                start = time.perf_counter()
                exact, _ = diffusion_spectrum(X, sigma, exact_p)
                t_exact = time.perf_counter() - start
                ests, stds, t_slq = [], [], []
                for seed in range(n_seeds):
                    start = time.perf_counter()
                    spec, _ = diffusion_spectrum(X, sigma, slq_p, np.random.default_rng(seed))
                    t_slq.append(time.perf_counter() - start)
                    ests.append(spec.entropy(np.array(TS, float), 2.0))
                    stds.append(spec.entropy_std(np.array(TS, float), 2.0))
                ests, stds = np.array(ests), np.array(stds)
                for i, t in enumerate(TS):
                    ex = exact.entropy(t, 2.0)
                    err = float(np.max(np.abs(ests[:, i] - ex)))
                    tol = max(0.02, 0.005 * ex)
                    worst = max(worst, err / tol)
                    rows.append(
                        [
                            str(n),
                            fam,
                            f"{bw_name} ({sigma:.3g})",
                            str(t),
                            f"{ex:.4f}",
                            f"{ests[:, i].mean():.4f} ± {ests[:, i].std():.4f}",
                            f"{stds[:, i].mean():.4f}",
                            f"{err:.4f}",
                            "ok" if err <= tol else "MISS",
                            f"{t_exact:.2f}",
                            f"{np.median(t_slq):.2f}",
                        ]
                    )
                speedups.setdefault(n, []).append(t_exact / np.median(t_slq))
                print(f"{n} {fam} {bw_name} done", file=sys.stderr)
    header = [
        "N",
        "data",
        "bandwidth",
        "t",
        "exact bits",
        "slq mean ± sd",
        "mean SE",
        "max |err|",
        "target",
        "exact s",
        "slq s",
    ]
    print(table(header, rows))
    print(f"\nworst error / target: {worst:.2f} (<= 1 meets the target on every row)")
    for n, s in speedups.items():
        print(f"N={n}: slq speed-up over exact, median {np.median(s):.1f}x (min {min(s):.1f}x)")


def crossover(sizes):
    rows = []
    for n in sizes:
        X = make_noisy_subspace(n, 3, 128, noise=0.05, random_state=0)
        sigma = resolve_bandwidth(X, "scale")
        t_e = median_time(
            lambda X=X, sigma=sigma: diffusion_spectrum(
                X, sigma, check_entropy_params(solver="exact")
            )
        )
        t_s = median_time(
            lambda X=X, sigma=sigma: diffusion_spectrum(
                X, sigma, check_entropy_params(solver="slq"), np.random.default_rng(0)
            )
        )
        rows.append([str(n), f"{t_e:.2f}", f"{t_s:.2f}", f"{t_e / t_s:.2f}"])
    print(table(["N", "exact s", "slq s", "exact / slq"], rows))


def knn_comparison(sizes):
    """DSE of the sparse kNN kernel beside the dense Gaussian ("scale") kernel."""
    exact = check_entropy_params(solver="exact")
    knn_exact_p = check_entropy_params(solver="exact", affinity="knn")
    knn_slq_p = check_entropy_params(solver="slq", affinity="knn")
    rows = []
    for n in sizes:
        for fam, X in families(n).items():
            gauss, _ = diffusion_spectrum(X, resolve_bandwidth(X, "scale"), exact)
            knn_exact, _ = diffusion_spectrum(X, None, knn_exact_p)
            knn_slq, _ = diffusion_spectrum(X, None, knn_slq_p, np.random.default_rng(0))
            rows.append(
                [str(n), fam]
                + [f"{gauss.entropy(t, 2.0):.3f}" for t in TS]
                + [f"{knn_exact.entropy(t, 2.0):.3f}" for t in TS]
                + [f"{abs(knn_slq.entropy(t, 2.0) - knn_exact.entropy(t, 2.0)):.4f}" for t in TS]
            )
    header = ["N", "data"]
    header += [f"gauss t={t}" for t in TS] + [f"knn t={t}" for t in TS]
    header += [f"knn slq err t={t}" for t in TS]
    print(table(header, rows))
    print("\nlog2(N) = " + ", ".join(f"{np.log2(n):.2f}" for n in sizes))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=None)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--crossover", action="store_true")
    parser.add_argument("--knn", action="store_true", help="kNN kernel beside the Gaussian")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", UserWarning)  # wide and narrow kernels on purpose
    print(f"machine: {machine()}\n")
    if args.crossover:
        crossover(args.sizes or [1000, 2000, 3000, 4000, 5000, 6000])
    elif args.knn:
        knn_comparison(args.sizes or [2000])
    else:
        accuracy(args.sizes or [2000, 8000], args.seeds)


if __name__ == "__main__":
    main()
