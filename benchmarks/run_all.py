"""Run every benchmark and write one Markdown report.

Run: ``python benchmarks/run_all.py [--full] [--out benchmarks/report.md]``

Default sizes are reduced so the whole suite takes a few minutes on 2 cores;
``--full`` uses the sizes the issues name (about an hour here). The GPU
table is measured when CuPy sees a GPU, otherwise read from the saved results
in ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import datetime
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

QUICK = {
    "bench_vs_reference.py": ["--sizes", "1000", "2000"],
    "bench_slq_accuracy.py": ["--sizes", "2000", "--seeds", "2"],
    "bench_slq_accuracy.py --crossover": ["--crossover", "--sizes", "1000", "2000", "3000"],
    "bench_slq_accuracy.py --knn": ["--knn", "--sizes", "2000"],
    "bench_scale.py": ["--sizes", "20000", "--operators", "matrix_free", "knn"],
    "bench_dask.py": ["--sizes", "20000", "50000", "--gaussian-sizes", "20000", "--compare-n", "0"],
}
FULL = {
    "bench_vs_reference.py": ["--repeats", "5"],
    "bench_slq_accuracy.py": [],
    "bench_slq_accuracy.py --crossover": ["--crossover"],
    "bench_slq_accuracy.py --knn": ["--knn"],
    "bench_scale.py": [],
    "bench_dask.py": [],
}
TITLES = {
    "bench_vs_reference.py": "skdse against dse-dsmi (time, memory)",
    "bench_slq_accuracy.py": "slq accuracy against exact",
    "bench_slq_accuracy.py --crossover": "exact against slq time by N (solver='auto' threshold)",
    "bench_slq_accuracy.py --knn": "the kNN kernel beside the Gaussian kernel",
    "bench_scale.py": "scale: slq matrix-free and kNN",
    "bench_dask.py": "Dask: LocalCluster of 2 workers, time and memory per worker",
}


def _gpu_available() -> bool:
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def run(script_and_mode: str, args: list[str]) -> str:
    script = script_and_mode.split()[0]
    out = subprocess.run(
        [sys.executable, str(HERE / script), *args], capture_output=True, text=True
    )
    if out.returncode != 0:
        return f"(failed with status {out.returncode})\n\n```\n{out.stderr[-2000:]}\n```"
    return out.stdout.strip()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the issues' sizes (slow)")
    parser.add_argument("--out", default=str(HERE / "report.md"))
    args = parser.parse_args(argv)
    plan = FULL if args.full else QUICK
    parts = [
        "# skdse benchmark report",
        f"{datetime.datetime.now():%Y-%m-%d %H:%M}, {'full' if args.full else 'quick'} sizes.",
    ]
    for key, extra in plan.items():
        print(f"running {key} ...", file=sys.stderr, flush=True)
        parts += [f"## {TITLES[key]}", run(key, extra)]
    parts.append("## GPU")
    if _gpu_available():
        parts.append(run("gpu_check.py", ["--quick"] if not args.full else []))
    else:
        saved = sorted((HERE / "results").glob("gpu_*.md"))
        parts.append(
            "No GPU here; saved results from GPU machines:" if saved else "No GPU results."
        )
        parts += [p.read_text().strip() for p in saved]
    Path(args.out).write_text("\n\n".join(parts) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
