"""DSE far beyond the exact solver's reach: time and peak memory by N.

Run: ``python benchmarks/bench_scale.py [--sizes 20000 50000 100000] [--operators matrix_free knn]
[--lanczos auto full plain]``

Noisy 3-dimensional manifold in D = 128, solver="slq" with default
parameters, ``max_samples=None``. Each (N, operator) runs in a fresh
subprocess so that its peak resident memory (ru_maxrss) is its own.
Prints a Markdown table and the growth exponent of time with N.
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
n, operator, lanczos = int(sys.argv[1]), sys.argv[2], sys.argv[3]
if lanczos != "auto":  # slq's Lanczos forced: full reorthogonalisation or the recurrence alone
    solve.FULL_BASIS_FRACTION = float("inf") if lanczos == "full" else 0.0
X = make_noisy_subspace(n, 3, 128, noise=0.05, random_state=0)
kw = dict(affinity="knn") if operator == "knn" else dict(operator=operator)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
est = DiffusionSpectralEntropy(solver="slq", max_samples=None, random_state=0, **kw).fit(X)
elapsed = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(dict(n=n, operator=operator, lanczos=lanczos, seconds=elapsed, peak_kib=peak,
                      data_kib=X.nbytes // 1024, entropy=est.entropy_, se=est.entropy_std_,
                      profile=est.entropy_profile([1, 2, 5]).tolist())))
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20000, 50000, 100000])
    parser.add_argument("--operators", nargs="+", default=["matrix_free", "knn"])
    parser.add_argument("--lanczos", nargs="+", default=["auto"], choices=["auto", "full", "plain"])
    args = parser.parse_args(argv)
    results = []
    for op, lanczos, n in itertools.product(args.operators, args.lanczos, args.sizes):
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(n), op, lanczos], capture_output=True, text=True
        )
        if out.returncode != 0:
            print(out.stderr, file=sys.stderr)
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
    print(f"machine: {machine()}; manifold d=3 in D=128, solver='slq', defaults\n")
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
