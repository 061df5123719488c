"""DSE far beyond the exact solver's reach: time and peak memory by N.

Run: ``python benchmarks/bench_scale.py [--sizes 20000 50000 100000] [--operators matrix_free knn]
[--lanczos auto full plain] [--dims 128] [--random-state 0|none] [--verbose 1]``

Noisy 3-dimensional manifold in D = ``--dims`` (128), solver="slq" with default
parameters, ``max_samples=None``, ``random_state`` from ``--random-state``
(0; ``none``: unseeded, so that an approximate kNN search runs on every
thread). Each (N, operator) runs in a fresh subprocess so that its peak
resident memory (ru_maxrss) is its own; its progress (``--verbose``) goes
to stderr as it runs. Prints a Markdown table and the growth exponent of
time with N.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import machine, table  # noqa: E402

CHILD = r"""
import json, resource, sys, time, warnings
import numpy as np
from skdse import DiffusionSpectralEntropy
from skdse._engine import solve
from skdse.datasets import make_noisy_subspace
n, operator, lanczos, dims = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
seed = None if sys.argv[5] == "none" else int(sys.argv[5])
if lanczos != "auto":  # slq's Lanczos forced: full reorthogonalisation or the recurrence alone
    solve.FULL_BASIS_FRACTION = float("inf") if lanczos == "full" else 0.0
X = make_noisy_subspace(n, 3, dims, noise=0.05, random_state=0)
kw = dict(affinity="knn") if operator == "knn" else dict(operator=operator)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
est = DiffusionSpectralEntropy(
    solver="slq", max_samples=None, random_state=seed, verbose=int(sys.argv[6]), **kw
).fit(X)
elapsed = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(dict(n=n, operator=operator, lanczos=lanczos, seconds=elapsed, peak_kib=peak,
                      data_kib=X.nbytes // 1024, entropy=est.entropy_, se=est.entropy_std_,
                      profile=est.entropy_profile([1, 2, 5]).tolist())))
"""


def _seed(text: str) -> int | None:
    return None if text.lower() == "none" else int(text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20000, 50000, 100000])
    parser.add_argument("--operators", nargs="+", default=["matrix_free", "knn"])
    parser.add_argument("--lanczos", nargs="+", default=["auto"], choices=["auto", "full", "plain"])
    parser.add_argument("--dims", type=int, default=128, help="ambient dimension D (default 128)")
    parser.add_argument(
        "--random-state",
        type=_seed,
        default=0,
        help="the fits' seed, or 'none': unseeded (an approximate kNN search on every thread)",
    )
    parser.add_argument("--verbose", type=int, default=0, help="the fits' verbose (to stderr)")
    args = parser.parse_args(argv)
    seed = "none" if args.random_state is None else str(args.random_state)
    results = []
    for op, lanczos, n in itertools.product(args.operators, args.lanczos, args.sizes):
        cmd = [sys.executable, "-c", CHILD, str(n), op, lanczos, str(args.dims), seed]
        out = subprocess.run([*cmd, str(args.verbose)], stdout=subprocess.PIPE, text=True)
        if out.returncode != 0:  # its traceback went to stderr
            continue
        res = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(res)
        print(f"{op} {lanczos} N={n}: {res['seconds']:.1f} s", file=sys.stderr)
    rows = [
        [
            str(r["n"]),
            r["operator"],
            r["lanczos"],
            f"{r['seconds']:.1f}",
            f"{r['peak_kib'] / 2**20:.2f}",
            f"{r['entropy']:.3f} ± {r['se']:.3f}",
            ", ".join(f"{h:.3f}" for h in r["profile"]),
        ]
        for r in results
    ]
    print(
        f"machine: {machine()}; manifold d=3 in D={args.dims}, solver='slq', defaults, "
        f"random_state={args.random_state}\n"
    )
    print(
        table(
            [
                "N",
                "operator",
                "Lanczos",
                "time s",
                "peak RSS GiB",
                "DSE (t=1) ± SE",
                "DSE at t=1, 2, 5",
            ],
            rows,
        )
    )
    for op in args.operators:
        pts = [(r["n"], r["seconds"]) for r in results if r["operator"] == op]
        pts = pts if len(args.lanczos) == 1 else []  # one growth per Lanczos: not mixed
        if len(pts) >= 2:
            slope = np.polyfit(np.log([p[0] for p in pts]), np.log([p[1] for p in pts]), 1)[0]
            print(f"{op}: time grows as N^{slope:.2f}")


if __name__ == "__main__":
    main()
