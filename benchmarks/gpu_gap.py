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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_scale import KW, WARM_UP_N, _data, _device  # noqa: E402

from skdse import DiffusionSpectralEntropy  # noqa: E402
from skdse.datasets import make_noisy_subspace  # noqa: E402


def _gpu_check_data(n: int):
    """gpu_check.py's slq data: 3 dimensions in D = 128."""
    return make_noisy_subspace(n, 3, 128, noise=0.05, random_state=0)


# gpu_check.py's data first (its row is the one to explain), then gpu_scale.py's
DATA = (("gpu_check", _gpu_check_data), ("gpu_scale", _data))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    import cupy as cp

    sync = cp.cuda.Device().synchronize
    device = _device()
    DiffusionSpectralEntropy(**KW).fit(cp.asarray(_data(WARM_UP_N)))  # CUDA context, kernels
    rows = []
    for label, make in DATA:
        X = cp.asarray(make(args.n))
        for n_deflate in (64, "auto"):
            sync()
            start = time.perf_counter()
            est = DiffusionSpectralEntropy(n_deflate=n_deflate, **KW).fit(X)
            sync()
            row = dict(
                **device,
                data=label,
                n=args.n,
                D=X.shape[1],
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
    main()
