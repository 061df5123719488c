"""GPU at scale: Gaussian slq (matrix-free) by N on one GPU, and a one-GPU LocalCUDACluster.

Set-up on the GPU machine (this script installs nothing)::

    pip install -e '.[gpu,dask]' dask-cuda

(``gpu-cuda13`` instead of ``gpu`` where the driver is CUDA 13). Without a
network, install the same packages from wheels first; the checkout is
imported from where it is when skdse is not installed.

Run::

    python benchmarks/gpu_scale.py [--out DIR] [--full] [--budget 480]
    python benchmarks/gpu_scale.py --dry-run     # tiny N, NumPy, any machine

Stages, each in its own process (a crash or a time-out ends that stage only,
its peak memory is its own), all within ``--budget`` seconds:

1. ``DiffusionSpectralEntropy(solver="slq", operator="matrix_free",
   max_samples=None, random_state=0)`` on CuPy input, ``make_noisy_subspace``
   data in D = 64, at N = 100k, 200k and 400k (and 1e6 with ``--full``):
   the fit's time (after a warm-up fit at N = 3000 in the same process) and
   the device's peak memory (the most the CuPy pool held, through an
   allocator that records it). A size is skipped when its projected time
   (the last size's time times the square of the ratio of N) does not fit
   in what is left of the budget, less what the cluster stage needs; a fit
   that runs past what is left is stopped and reported.
2. The growth exponent of time with N (least squares on log-log) and the
   projected time at N = 1e6, from the fitted exponent and from N^2.
3. The same fit at N = 200k on a one-GPU ``dask_cuda.LocalCUDACluster``:
   X's row chunks (25000 rows) are scattered to the worker and made CuPy
   there; the fit's time, the worker's peak device memory, the client's
   peak resident memory, and the DSE against stage 1's at the same N. A
   failure (the engine's CuPy-chunk support is new) is reported, not raised.

Writes ``gpu_scale.json`` and ``gpu_scale.md`` under ``--out`` (default:
``$OUT``, else ``./gpu_out``) and prints the Markdown. ``--dry-run`` runs the
same stages with NumPy at N = 1000, 2000, 4000 (cluster: 2000 in chunks of
500, a ``distributed.LocalCluster`` of one worker) to check the script end
to end; its numbers say nothing about a GPU.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if importlib.util.find_spec("skdse") is None:  # not installed: this checkout's (stages too)
    sys.path.insert(0, str(HERE.parent))
D = 64
SIZES = (100_000, 200_000, 400_000)
FULL_SIZE = 1_000_000
CLUSTER_N = 200_000
CLUSTER_CHUNK_ROWS = 25_000
DRY = dict(sizes=(1000, 2000, 4000), cluster_n=2000, chunk_rows=500)
WARM_UP_N = 3000  # the warm-up fit (dry run: 500)
KW = dict(solver="slq", operator="matrix_free", max_samples=None, random_state=0)
#: seconds a stage's process needs besides its fit (start, imports, data, warm-up), until measured
STAGE_OVERHEAD = 30.0
#: what the cluster stage needs besides its fit (cluster start, scatter, warm-up)
CLUSTER_OVERHEAD = 60.0


# ---------------------------------------------------------------------------
# the stages (run in child processes)


class PeakPool:
    """CuPy's default memory pool, recording the most it held at once."""

    def __init__(self, cp):
        self.pool = cp.get_default_memory_pool()
        self.peak = 0

    def malloc(self, size):
        mem = self.pool.malloc(size)
        self.peak = max(self.peak, self.pool.used_bytes())
        return mem

    def reset(self):
        self.peak = self.pool.used_bytes()


def _install_peak_pool():
    """Route CuPy's allocations through a :class:`PeakPool` (in this process)."""
    import cupy as cp

    tracker = PeakPool(cp)
    cp.cuda.set_allocator(tracker.malloc)
    return tracker


def _data(n: int):
    from skdse.datasets import make_noisy_subspace

    return make_noisy_subspace(n, 5, D, noise=0.05, random_state=0)


def _device() -> dict:
    import cupy as cp

    props = cp.cuda.runtime.getDeviceProperties(0)
    name = props["name"]
    return dict(
        device=name.decode() if isinstance(name, bytes) else name,
        device_memory_gib=round(props["totalGlobalMem"] / 2**30, 1),
        cupy=cp.__version__,
    )


def stage_fit(n: int, dry_run: bool) -> dict:
    """Stage 1 at one N, in memory: time and the device's peak memory."""
    import numpy as np

    import skdse
    from skdse import DiffusionSpectralEntropy

    out = dict(stage="fit", n=n, skdse=skdse.__version__)
    if dry_run:
        to_device, sync, tracker = np.asarray, (lambda: None), None
        out.update(device="CPU (dry run, NumPy)")
    else:
        import cupy as cp

        tracker = _install_peak_pool()
        to_device, sync = cp.asarray, cp.cuda.Device().synchronize
        out.update(_device())
    warm = _data(500 if dry_run else WARM_UP_N)
    DiffusionSpectralEntropy(**KW).fit(to_device(warm))  # CUDA context, kernels
    X = to_device(_data(n))
    sync()
    if tracker is not None:
        tracker.reset()
    start = time.perf_counter()
    est = DiffusionSpectralEntropy(**KW).fit(X)
    sync()
    out.update(
        seconds=time.perf_counter() - start,
        peak_device_bytes=None if tracker is None else tracker.peak,
        entropy=est.entropy_,
        se=est.entropy_std_,
    )
    return out


def _worker_install_peak_pool(dask_worker):
    """On a worker (``client.run``): its CuPy allocations through a :class:`PeakPool`,
    kept on the worker object (a function sent from ``__main__`` has no lasting globals)."""
    import cupy as cp

    dask_worker.skdse_peak_pool = PeakPool(cp)
    cp.cuda.set_allocator(dask_worker.skdse_peak_pool.malloc)
    return dask_worker.skdse_peak_pool.peak


def _worker_reset_peak(dask_worker):
    dask_worker.skdse_peak_pool.reset()
    return dask_worker.skdse_peak_pool.peak


def _worker_peak(dask_worker):
    return dask_worker.skdse_peak_pool.peak


def stage_cluster(n: int, chunk_rows: int, dry_run: bool) -> dict:
    """Stage 3: the fit of X in CuPy row chunks on a one-GPU LocalCUDACluster."""
    import resource

    import dask
    import dask.array as da
    import distributed
    import numpy as np

    import skdse
    from skdse import DiffusionSpectralEntropy

    out = dict(stage="cluster", n=n, chunk_rows=chunk_rows, skdse=skdse.__version__)
    start = time.perf_counter()
    if dry_run:
        cluster = distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, dashboard_address=None, processes=True
        )
        to_chunk, meta = np.asarray, np.empty((0, 0))
        out.update(device="CPU (dry run, NumPy chunks, LocalCluster)")
    else:
        import cupy as cp
        import dask_cuda

        cluster = dask_cuda.LocalCUDACluster(
            n_workers=1, CUDA_VISIBLE_DEVICES="0", threads_per_worker=1, dashboard_address=None
        )
        to_chunk, meta = cp.asarray, cp.empty((0, 0))
        out.update(_device(), dask_cuda=dask_cuda.__version__)
    with cluster, distributed.Client(cluster) as client:
        out.update(cluster_start_seconds=time.perf_counter() - start, dask=dask.__version__)

        def on_workers(X_np):
            """X_np's row chunks scattered to the worker, made ``to_chunk`` arrays there."""
            rows = range(0, X_np.shape[0], chunk_rows)
            futures = client.scatter([X_np[i : i + chunk_rows] for i in rows])
            blocks = [
                da.from_delayed(
                    dask.delayed(f),
                    shape=(min(chunk_rows, X_np.shape[0] - i), D),
                    dtype=X_np.dtype,
                    meta=np.empty((0, 0)),
                )
                for f, i in zip(futures, rows)
            ]
            return da.concatenate(blocks).map_blocks(to_chunk, dtype=X_np.dtype, meta=meta)

        if not dry_run:
            client.run(_worker_install_peak_pool)
        warm = _data(500 if dry_run else WARM_UP_N)
        DiffusionSpectralEntropy(**KW).fit(on_workers(warm))  # warm-up
        X = on_workers(_data(n))
        kinds = client.compute(
            X.map_blocks(lambda b: np.array([[type(b).__module__]]), dtype=object, chunks=(1, 1))
        ).result()
        out["chunk_types"] = sorted({str(k) for k in np.ravel(kinds)})
        if not dry_run:
            client.run(_worker_reset_peak)
        start = time.perf_counter()
        est = DiffusionSpectralEntropy(**KW).fit(X)
        out.update(seconds=time.perf_counter() - start, entropy=est.entropy_, se=est.entropy_std_)
        if not dry_run:
            out["peak_device_bytes"] = max(client.run(_worker_peak).values())
    out["client_peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return out


# ---------------------------------------------------------------------------
# the driver


def run_stage(argv: list[str], timeout: float) -> dict:
    """One stage in a child process; its JSON, or what went wrong.

    The child leads its own process group, so that a stage stopped at its
    time limit takes the cluster's worker processes it started with it.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=max(1.0, timeout))
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return dict(status="timed out", wall=time.perf_counter() - start, limit=timeout)
    wall = time.perf_counter() - start
    lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (stderr or stdout)[-1500:]
        return dict(status=f"failed (exit {proc.returncode})", wall=wall, error=tail)
    return dict(json.loads(lines[-1]), status="ok", wall=wall)


def growth(points: list[tuple[int, float]]) -> float | None:
    """Least-squares exponent p of seconds ~ N^p."""
    if len(points) < 2:
        return None
    xs = [math.log(n) for n, _ in points]
    ys = [math.log(s) for _, s in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def _gib(b) -> str:
    return "" if b is None else f"{b / 2**30:.2f}"


def markdown(res: dict) -> str:
    sys.path.insert(0, str(HERE))
    from _harness import table

    lines = [f"device: {res['device']}; D = {D}, defaults, {res['command']}", ""]
    where = "LocalCluster, 1 worker" if res.get("dry_run") else "LocalCUDACluster, 1 GPU"
    rows = []
    for r in res["fits"]:
        if r["status"] == "ok":
            rows.append(
                [
                    str(r["n"]),
                    "in memory",
                    f"{r['seconds']:.1f}",
                    _gib(r.get("peak_device_bytes")),
                    "",
                    f"{r['entropy']:.4f} ± {r['se']:.4f}",
                    "ok",
                ]
            )
        else:
            rows.append([str(r["n"]), "in memory", "", "", "", "", r["status"]])
    c = res.get("cluster")
    if c:
        if c["status"] == "ok":
            rows.append(
                [
                    str(c["n"]),
                    where,
                    f"{c['seconds']:.1f}",
                    _gib(c.get("peak_device_bytes")),
                    _gib(c["client_peak_rss_bytes"]),
                    f"{c['entropy']:.4f} ± {c['se']:.4f}",
                    "ok; chunks: " + ", ".join(c["chunk_types"]),
                ]
            )
        else:
            rows.append([str(c["n"]), where, "", "", "", "", c["status"]])
    lines.append(
        table(
            [
                "N",
                "where",
                "fit s",
                "peak device GiB",
                "client peak RSS GiB",
                "DSE (t=1) ± SE",
                "status",
            ],
            rows,
        )
    )
    lines.append("")
    g = res["growth"]
    if g["exponent"] is not None:
        lines.append(
            f"time grows as N^{g['exponent']:.2f} (sizes {g['sizes']}); projected at "
            f"N = {g['target']:.0e}: {g['projected_fitted']:.0f} s from that exponent, "
            f"{g['projected_n2']:.0f} s from N^2 and the largest size"
        )
    same = [r for r in res["fits"] if r["status"] == "ok" and c and r["n"] == c["n"]]
    if same and c["status"] == "ok":
        lines.append(
            f"cluster against in memory at N = {c['n']}: |DSE difference| = "
            f"{abs(c['entropy'] - same[0]['entropy']):.2e} bits (same probes; SE {c['se']:.4f})"
        )
    for r in [*res["fits"], *([c] if c else [])]:
        if r["status"] != "ok":
            lines.append(
                f"- N = {r['n']} ({r.get('stage', 'fit')}): {r['status']}"
                + (f": {r['reason']}" if r.get("reason") else "")
                + (f"\n  ```\n  {r['error'].strip()[-600:]}\n  ```" if r.get("error") else "")
            )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or "gpu_out"))
    parser.add_argument("--full", action="store_true", help="also N = 1e6")
    parser.add_argument("--budget", type=float, default=480.0, help="seconds for all stages")
    parser.add_argument("--dry-run", action="store_true", help="tiny N with NumPy, on any machine")
    parser.add_argument("--stage", choices=["fit", "cluster"], help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stage == "fit":
        print(json.dumps(stage_fit(args.n, args.dry_run)))
        return
    chunk_rows = DRY["chunk_rows"] if args.dry_run else CLUSTER_CHUNK_ROWS
    if args.stage == "cluster":
        print(json.dumps(stage_cluster(args.n, chunk_rows, args.dry_run)))
        return

    t0 = time.monotonic()
    left = lambda: args.budget - (time.monotonic() - t0)  # noqa: E731
    dry = ["--dry-run"] if args.dry_run else []
    sizes = list(DRY["sizes"] if args.dry_run else SIZES + ((FULL_SIZE,) if args.full else ()))
    cluster_n = DRY["cluster_n"] if args.dry_run else CLUSTER_N
    res = dict(
        command=" ".join(["gpu_scale.py", *sys.argv[1:]]),
        budget=args.budget,
        dry_run=args.dry_run,
        fits=[],
    )
    done: list[tuple[int, float]] = []
    overhead = STAGE_OVERHEAD

    def projected(n: int) -> float:
        if not done:
            return overhead
        n0, s0 = done[-1]
        return s0 * (n / n0) ** 2 + overhead

    for n in sizes:
        # keep what the cluster stage will need: its fit is about the in-memory one at its N
        reserve = CLUSTER_OVERHEAD + (projected(cluster_n) - overhead if done else 0.0)
        need = projected(n)
        room = left() - (reserve if n > cluster_n else 0.0)
        if need > room:
            reason = f"projected {need:.0f} s > {room:.0f} s left"
            res["fits"].append(dict(n=n, status="skipped", reason=reason))
            print(f"N={n}: skipped, {reason}", file=sys.stderr, flush=True)
            continue
        r = run_stage(["--stage", "fit", "--n", str(n), *dry], timeout=room)
        r.setdefault("n", n)
        res["fits"].append(r)
        print(
            f"N={n}: {r['status']} {r.get('seconds', r['wall']):.1f} s", file=sys.stderr, flush=True
        )
        if r["status"] != "ok":  # a larger N would not fare better
            for m in sizes[sizes.index(n) + 1 :]:
                res["fits"].append(dict(n=m, status="skipped", reason=f"N = {n} {r['status']}"))
            break
        done.append((n, r["seconds"]))
        overhead = max(1.0, r["wall"] - r["seconds"])
        res.setdefault("device", r.get("device"))

    p = growth(done)
    target = 10 * sizes[-1] if args.dry_run else FULL_SIZE
    res["growth"] = dict(
        exponent=p,
        sizes=[n for n, _ in done],
        target=target,
        projected_fitted=done[-1][1] * (target / done[-1][0]) ** p if p is not None else None,
        projected_n2=done[-1][1] * (target / done[-1][0]) ** 2 if done else None,
    )

    room = left()
    need = CLUSTER_OVERHEAD + (projected(cluster_n) - overhead if done else 0.0)
    if need > room:
        res["cluster"] = dict(
            stage="cluster",
            n=cluster_n,
            status="skipped",
            reason=f"projected {need:.0f} s > {room:.0f} s left",
        )
    else:
        c = run_stage(["--stage", "cluster", "--n", str(cluster_n), *dry], timeout=room)
        c.setdefault("n", cluster_n)
        c.setdefault("stage", "cluster")
        res["cluster"] = c
        res.setdefault("device", c.get("device"))
        print(f"cluster N={cluster_n}: {c['status']}", file=sys.stderr, flush=True)
    res["device"] = res.get("device") or "unknown (no stage ran)"
    res["seconds_total"] = time.monotonic() - t0

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_scale.json").write_text(json.dumps(res, indent=2))
    text = markdown(res)
    (args.out / "gpu_scale.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
