"""skdse against the reference dse-dsmi 1.1: time, kernel share and peak memory.

Run: ``python benchmarks/bench_vs_reference.py [--sizes 1000 2000 4000] [--repeats 3]``

Prints a Markdown table. D = 256, sigma = 10, t = 1, uniform data, exact
solver on both sides, measured in the same process. Timings are medians over
repeats; peak memory is tracemalloc's, in a separate run, beyond X itself.
The kernel share is the fit's time less the eigensolver's alone, timed with
the same LAPACK call (scipy's ``eigh``, driver ``evr``) on the same operator
``D^-1/2 G D^-1/2`` built here with scikit-learn's ``rbf_kernel``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import scipy.linalg
from sklearn.metrics.pairwise import rbf_kernel

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import machine, median_time, peak_bytes, table  # noqa: E402

from skdse import diffusion_spectral_entropy  # noqa: E402


def normalised_kernel(X, sigma: float) -> np.ndarray:
    """The symmetric diffusion operator ``D^-1/2 G D^-1/2`` of the Gaussian kernel."""
    A = rbf_kernel(X, gamma=1.0 / (2.0 * sigma**2))
    s = 1.0 / np.sqrt(A.sum(axis=1))
    A *= s[:, None]
    A *= s[None, :]
    return A


def eigensolver(A: np.ndarray) -> None:
    """All eigenvalues of a copy of ``A``, with the LAPACK driver skdse's exact solver uses."""
    scipy.linalg.eigh(
        A.copy(order="F"), eigvals_only=True, overwrite_a=True, check_finite=False, driver="evr"
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 4000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dim", type=int, default=256)
    args = parser.parse_args(argv)

    import dse_dsmi

    sigma, rows = 10.0, []
    for n in args.sizes:
        X = np.random.default_rng(0).uniform(size=(n, args.dim))

        def ours(X=X):
            return diffusion_spectral_entropy(X, bandwidth=sigma, max_samples=None, solver="exact")

        def ref(X=X):
            return dse_dsmi.diffusion_spectral_entropy(X, gaussian_kernel_sigma=sigma, max_N=None)

        diff = abs(ours() - ref())
        t_ours, t_ref = median_time(ours, args.repeats), median_time(ref, args.repeats)

        # Split of skdse's time: the eigensolver alone on an operator of the same
        # size and spectrum; the rest of the fit is kernel + normalisation.
        A = normalised_kernel(X, sigma)
        eig = median_time(lambda A=A: eigensolver(A), args.repeats)
        del A
        kern = max(t_ours - eig, 0.0)
        share = kern / eig

        nn8 = 8.0 * n * n
        m_ours, m_ref = peak_bytes(ours) / nn8, peak_bytes(ref) / nn8
        rows.append(
            [
                str(n),
                f"{t_ours:.2f}",
                f"{t_ref:.2f}",
                f"{t_ref / t_ours:.2f}x",
                f"{kern:.2f} / {eig:.2f} ({100 * share:.0f}%)",
                f"{m_ours:.2f}",
                f"{m_ref:.2f}",
                f"{diff:.1e}",
            ]
        )
        print(f"N={n} done", file=sys.stderr)

    print(f"machine: {machine()}; D={args.dim}, sigma={sigma}, t=1, median of {args.repeats}\n")
    print(
        table(
            [
                "N",
                "skdse s",
                "dse-dsmi s",
                "speed-up",
                "skdse kernel / eigh s (kernel share)",
                "skdse peak / 8N^2",
                "dse-dsmi peak / 8N^2",
                "|diff| bits",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
