"""Why gpu_check.py's matrix-free slq row (5.61 s at N = 100k, D = 128, 2026-11-27)
is about 5x faster than gpu_scale.py's (28.5 s at N = 100k, D = 64).

Fits both scripts' data with ``n_deflate=64`` (the old default) and ``"auto"``
(today's), one after another on one GPU, and prints time, directions deflated
and matrix-vector products. Run on a machine with CuPy::

    python benchmarks/gpu_gap.py [--n 100000] [--out gap.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from skdse import DiffusionSpectralEntropy
from skdse.datasets import make_noisy_subspace

# (name, intrinsic dimension, D): gpu_check.py's data and gpu_scale.py's
DATA = (("gpu_check", 3, 128), ("gpu_scale", 5, 64))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    import cupy as cp

    sync = cp.cuda.Device().synchronize
    name = cp.cuda.runtime.getDeviceProperties(0)["name"]
    device = name.decode() if isinstance(name, bytes) else name
    kw = dict(solver="slq", operator="matrix_free", max_samples=None, random_state=0)
    DiffusionSpectralEntropy(**kw).fit(cp.asarray(make_noisy_subspace(3000, 5, 64, random_state=0)))
    rows = []
    for label, dim, D in DATA:  # gpu_check first: its row is the one to explain
        X = cp.asarray(make_noisy_subspace(args.n, dim, D, noise=0.05, random_state=0))
        for n_deflate in (64, "auto"):
            sync()
            start = time.perf_counter()
            est = DiffusionSpectralEntropy(n_deflate=n_deflate, **kw).fit(X)
            sync()
            row = dict(
                device=device,
                data=label,
                n=args.n,
                D=D,
                n_deflate=n_deflate,
                seconds=time.perf_counter() - start,
                n_deflated=est.spectrum_.n_deflated,
                n_matvecs=est.spectrum_.n_matvecs,
                entropy=est.entropy_,
                se=est.entropy_std_,
            )
            rows.append(row)
            print(json.dumps(row), flush=True)
        del X
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    sys.exit(main() and 0)
