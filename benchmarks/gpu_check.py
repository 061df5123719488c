"""GPU check: GPU timings of the CuPy path.

Run on a machine with a CUDA GPU and CuPy::

    python benchmarks/gpu_check.py [--out results.json] [--quick]

The agreement of GPU with CPU results (CuPy and CUDA PyTorch, float64 and
float32, slq, DSMI, device memory given back) is tested by
``pytest -m gpu tests/test_gpu.py``. This script prints a Markdown table of
end-to-end times from a device array for exact DSE at N = 4096 and 16384
(float32 and float64), slq at N = 100000 and DSMI on 10 classes at
N = 20000 (medians of repeats after a warm-up). Saved results let the
benchmark report show them on machines without a GPU.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import table  # noqa: E402

import skdse  # noqa: E402
from skdse.datasets import make_noisy_subspace  # noqa: E402


def timed(fn, repeats, sync):
    fn()  # warm-up: CUDA context, cuSOLVER handles, kernel compilation
    sync()
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, one repeat")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", UserWarning)

    import cupy as cp

    sync = cp.cuda.Device().synchronize
    props = cp.cuda.runtime.getDeviceProperties(0)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    res = {"device": name, "timings": []}
    reps = 1 if args.quick else 3

    sizes = (4096, 8192) if args.quick else (4096, 16384)
    for n in sizes:
        Xg = cp.asarray(make_noisy_subspace(n, 5, 128, noise=0.05, random_state=0))
        for dtype in ("float64", "float32"):
            sec = timed(
                lambda Xg=Xg, dtype=dtype: skdse.diffusion_spectral_entropy(
                    Xg, solver="exact", dtype=dtype, max_samples=None
                ),
                reps,
                sync,
            )
            res["timings"].append(dict(what=f"exact DSE N={n} {dtype}", seconds=sec))
            print(f"exact {n} {dtype}: {sec:.2f}s", file=sys.stderr, flush=True)
        del Xg

    n_big = 30000 if args.quick else 100000
    Xg = cp.asarray(make_noisy_subspace(n_big, 3, 128, noise=0.05, random_state=0))
    for operator in ("auto", "matrix_free"):
        est = skdse.DiffusionSpectralEntropy(
            solver="slq", operator=operator, max_samples=None, random_state=0
        )
        sec = timed(lambda est=est: est.fit(Xg), 1, sync)
        res["timings"].append(
            dict(
                what=f"slq DSE N={n_big} operator={operator}",
                seconds=sec,
                entropy=est.entropy_,
                se=est.entropy_std_,
            )
        )
        print(f"slq {n_big} {operator}: {sec:.2f}s", file=sys.stderr, flush=True)
    del Xg

    X = make_noisy_subspace(20000, 5, 128, noise=0.05, random_state=0)
    y = np.repeat(np.arange(10), 2000)
    Xg = cp.asarray(X)
    sec = timed(
        lambda: skdse.diffusion_spectral_mutual_information(
            Xg, y, random_state=0, max_samples=None
        ),
        1,
        sync,
    )
    res["timings"].append(dict(what="DSMI N=20000, 10 classes, 5 repeats", seconds=sec))
    print(f"dsmi: {sec:.2f}s", file=sys.stderr, flush=True)
    cp.get_default_memory_pool().free_all_blocks()

    print(f"device: {name}\n")
    print(
        table(
            ["timing (median, from a device array)", "seconds"],
            [[r["what"], f"{r['seconds']:.2f}"] for r in res["timings"]],
        )
    )
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
