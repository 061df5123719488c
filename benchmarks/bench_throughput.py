"""Per-block throughput of one CPU core, and the planning table of a large run built from it.

Run (about 2 minutes on one core)::

    python benchmarks/bench_throughput.py --json benchmarks/results/throughput_cpu2.json
    python benchmarks/bench_throughput.py --from-json benchmarks/results/throughput_cpu2.json

The first form measures and prints; the second prints the tables again from
saved coefficients (``--gpu-json`` names the GPU timings the GPU column is
derived from). Everything is timed through the public estimator,
``DiffusionSpectralEntropy(solver="slq", max_samples=None, n_jobs=1)`` on
``make_noisy_subspace`` data in D = 64, with BLAS, OpenMP and numba on one
thread (set before NumPy loads), so each coefficient is one core's. The
coefficients are fitted on the process's CPU time (``time.process_time``,
one thread): on a shared machine wall time counts other jobs' turns too;
both are printed.

What is fitted (the model of ``docs/planning.rst``):

- Gaussian kernel, ``operator="matrix_free"``: a fit costs
  ``pairs(N) * (alpha * P + beta * sum_p m_p) + lambda * N``: each of the
  ``P`` products forms the upper half of the kernel (``pairs(N)`` entries:
  row blocks of 1024 from the diagonal on), at ``alpha`` seconds per entry
  (the exponent's (D + 2)-long dot product and one ``exp``), and multiplies
  it with its ``m_p`` columns twice, at ``beta`` seconds per entry and
  column. Three settings (few products and columns, many products and few
  columns, the defaults) at two N give ``alpha`` and ``beta`` (least
  squares over the three N^2 coefficients) and each setting's linear term.
- kNN kernel, ``neighbors="exact"``: ``sigma * N^2`` for the brute-force
  search (D = 64) plus, per point, the graph and the products: settings
  with 5, 10, 20 and 30 Lanczos steps (the default columns) separate the
  cost of a step's sparse product and vector updates (``rho``, per column
  and point) from the full reorthogonalisation's (``rho_reorth``, per
  column, point and basis vector kept), which only small N uses.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _harness import machine, table  # noqa: E402

D = 64
N_NEIGHBORS = 15
DEFAULTS = dict(n_lanczos_steps=30, n_probes=32, n_deflate=64)
N_POWER = 2  # subspace iterations of the deflation (one product each)
ROW_BLOCK = 1024  # rows of the kernel formed at once by the in-memory matrix-free operator
GAUSS_SETTINGS = {
    "few": dict(n_lanczos_steps=2, n_probes=2, n_deflate=0),
    "many products": dict(n_lanczos_steps=20, n_probes=2, n_deflate=0),
    "defaults": DEFAULTS,
}
KNN_STEPS = (5, 10, 20, 30)
#: assumptions of the cluster model (not measured here; see docs/planning.rst)
ASSUMED = dict(
    bandwidth_bytes_per_s=1.25e9,  # 10 Gbit/s Ethernet between CPU workers
    gpu_bandwidth_bytes_per_s=25e9,  # 200 Gbit/s InfiniBand between GPU workers
    seconds_per_task=5e-4,  # Dask's scheduler: 200 us to 1 ms per task (docs/dask.rst)
    cpu_chunk_rows_max=10000,
    gpu_chunk_rows_max=25000,
    chunk_rows_min=1000,
    cpu_tile_cols=2048,
)
SIZES = (10**5, 10**6, 10**7)
WORKERS = (1, 4, 16, 64, 256)


def products(settings: dict) -> list[int]:
    """Columns of each product slq makes: degrees, deflation, Lanczos steps."""
    k = settings["n_probes"] + settings["n_deflate"]
    deflate = [settings["n_deflate"]] * N_POWER if settings["n_deflate"] else []
    return [1] + deflate + [k] * settings["n_lanczos_steps"]


def pairs(n: int, block: int = ROW_BLOCK) -> int:
    """Kernel entries one matrix-free product forms: row blocks from the diagonal on."""
    return sum(min(block, n - s) * (n - s) for s in range(0, n, block))


def _fit_seconds(X, **kw) -> float:
    from skdse import DiffusionSpectralEntropy

    est = DiffusionSpectralEntropy(solver="slq", max_samples=None, random_state=0, n_jobs=1, **kw)
    wall, cpu = time.perf_counter(), time.process_time()
    est.fit(X)
    return time.process_time() - cpu, time.perf_counter() - wall


def _data(n: int):
    from skdse.datasets import make_noisy_subspace

    return make_noisy_subspace(n, 5, D, noise=0.05, random_state=0)


def measure(gauss_sizes, knn_sizes) -> dict:
    warnings.simplefilter("ignore", UserWarning)
    knn = dict(affinity="knn", neighbors="exact", n_neighbors=N_NEIGHBORS)
    for kw in (dict(operator="matrix_free"), knn):  # imports and first calls
        _fit_seconds(_data(500), **kw)
    runs = []

    def run(kernel, setting, n, X, **kw):
        cpu, wall = _fit_seconds(X, **kw)
        settings = {key: kw[key] for key in DEFAULTS}
        runs.append(dict(kernel=kernel, setting=setting, n=n, seconds=cpu, wall=wall, **settings))
        print(
            f"{kernel} {setting} N={n}: {cpu:.2f} s CPU, {wall:.2f} s wall",
            file=sys.stderr,
            flush=True,
        )

    for n in gauss_sizes:
        X = _data(n)
        for name, kw in GAUSS_SETTINGS.items():
            run("gaussian", name, n, X, operator="matrix_free", **kw)
    for n in knn_sizes:
        run("knn", "few", n, _data(n), **knn, **GAUSS_SETTINGS["few"])
    X = _data(knn_sizes[-1])
    for steps in KNN_STEPS:
        run(
            "knn",
            f"{steps} steps",
            knn_sizes[-1],
            X,
            **knn,
            **dict(DEFAULTS, n_lanczos_steps=steps),
        )
    return dict(runs=runs, **fit(runs))


def _settings(run) -> dict:
    return {k: run[k] for k in DEFAULTS}


def fit(runs) -> dict:
    """The coefficients of the model (module docstring) from the timed runs."""
    g = [r for r in runs if r["kernel"] == "gaussian"]
    per_setting, rows, rhs = {}, [], []
    for name in GAUSS_SETTINGS:
        rs = sorted((r for r in g if r["setting"] == name), key=lambda r: r["n"])
        # seconds = b * pairs(N) + lam * N, exactly through the two sizes
        A = np.array([[pairs(r["n"]), r["n"]] for r in rs], dtype=float)
        b, lam = np.linalg.lstsq(A, [r["seconds"] for r in rs], rcond=None)[0]
        cols = products(_settings(rs[0]))
        per_setting[name] = dict(per_pair=b, per_point=lam, products=len(cols), columns=sum(cols))
        rows.append([len(cols), sum(cols)])
        rhs.append(b)
    (alpha, beta), *_ = np.linalg.lstsq(np.array(rows, float), np.array(rhs), rcond=None)
    for s in per_setting.values():
        s["model_per_pair"] = alpha * s["products"] + beta * s["columns"]

    k = [r for r in runs if r["kernel"] == "knn"]
    few = sorted((r for r in k if r["setting"] == "few"), key=lambda r: r["n"])
    A = np.array([[r["n"] ** 2, r["n"]] for r in few], dtype=float)
    sigma, lam_knn = np.linalg.lstsq(A, [r["seconds"] for r in few], rcond=None)[0]
    steps = [r for r in k if r["setting"] != "few"]
    n = steps[0]["n"]
    ncols = DEFAULTS["n_probes"] + DEFAULTS["n_deflate"]
    # per step j the full basis holds j + 1 vectors, each used twice in two passes
    A = np.array(
        [
            [
                1.0,
                n * ncols * r["n_lanczos_steps"],
                n * ncols * 4 * r["n_lanczos_steps"] * (r["n_lanczos_steps"] + 1) / 2,
            ]
            for r in steps
        ]
    )
    (const, rho, rho_reorth), *_ = np.linalg.lstsq(A, [r["seconds"] for r in steps], rcond=None)
    resid = [r["seconds"] - float(A[i] @ [const, rho, rho_reorth]) for i, r in enumerate(steps)]
    return dict(
        gaussian=dict(alpha=alpha, beta=beta, settings=per_setting, D=D),
        knn=dict(
            sigma=sigma,
            per_point=lam_knn,
            rho=rho,
            rho_reorth=rho_reorth,
            fixed_seconds_at_n=const,
            n=n,
            residuals=resid,
            D=D,
            n_neighbors=N_NEIGHBORS,
        ),
    )


def gpu_coefficients(path: Path) -> dict | None:
    """alpha and beta of one GPU from a timed matrix-free slq fit on it.

    From ``gpu_gap.py``'s results (its ``n_deflate=64`` fit of ``gpu_scale.py``'s
    data: one slq run with the model's products, as the CPU coefficients are
    measured), ``gpu_scale.py``'s (``"fits"``: the largest in-memory fit, D = 64,
    defaults, ``max_samples=None``) or ``gpu_check.py``'s row ``slq DSE
    N=100000 operator=matrix_free`` (D = 128): one number, the seconds per
    multiply-add of the model, ``kappa``, taking a product's cost as
    ``pairs * (D + 2 + 2 m)`` multiply-adds (the exponent's dot product and
    both column products; the ``exp`` and the O(N) vector work are folded in)
    for one slq run. ``gpu_scale.py``'s fits use ``n_deflate="auto"``, which
    ran again with 128 directions on its data (``gpu_gap.py``): their
    ``kappa`` counts one run's products for about two runs' time. Then
    ``alpha = kappa * (D + 2)`` and ``beta = 2 * kappa`` for any D.
    """
    if not path.exists():
        return None
    res = json.loads(path.read_text())
    if isinstance(res, list):  # gpu_gap.py
        rows = [r for r in res if r["data"] == "gpu_scale" and r["n_deflate"] == 64]
        if not rows:
            return None
        r = rows[0]
        res = dict(device=r.get("device", "GPU"))
        n, d_gpu, sec = r["n"], r["D"], r["seconds"]
        what = f"gpu_gap.py fit N={n}, n_deflate=64"
    elif "fits" in res:  # gpu_scale.py
        fits = [f for f in res["fits"] if f["status"] == "ok"]
        if not fits:
            return None
        best = max(fits, key=lambda f: f["n"])
        n, d_gpu, sec, what = best["n"], 64, best["seconds"], f"in-memory fit N={best['n']}"
    else:  # gpu_check.py
        rows = [r for r in res["timings"] if r["what"] == "slq DSE N=100000 operator=matrix_free"]
        if not rows:
            return None
        n, d_gpu, sec, what = 100000, 128, rows[0]["seconds"], rows[0]["what"]
    cols = products(DEFAULTS)
    macs = pairs(n) * (len(cols) * (d_gpu + 2) + 2 * sum(cols))
    kappa = sec / macs
    return dict(
        device=res["device"],
        source=f"{path.name}: '{what}' = {sec:.2f} s (D = {d_gpu}, defaults)",
        kappa=kappa,
        alpha=kappa * (D + 2),
        beta=2 * kappa,
        D=D,
    )


def _chunking(n: int, w: int, rows_max: int, pair_tasks: bool) -> tuple[int, int]:
    """Chunk rows r and chunk count c: at least ~4 tasks per worker, r in [min, max]."""
    if pair_tasks:  # c (c + 1) / 2 pair tasks >= 4 w
        c = math.ceil(math.sqrt(8 * w))
    else:  # c^2 tasks (the neighbour search) >= 4 w
        c = math.ceil(2 * math.sqrt(w))
    r = min(rows_max, max(ASSUMED["chunk_rows_min"], math.ceil(n / c)))
    r = min(r, n)
    return r, math.ceil(n / r)


def plan_gaussian(n: int, w: int, coef: dict, gpu: bool) -> tuple[dict, float, float, int]:
    """Seconds by term, bytes per worker and on the client, chunk rows: Gaussian slq, w workers."""
    rows_max = ASSUMED["gpu_chunk_rows_max"] if gpu else ASSUMED["cpu_chunk_rows_max"]
    r, c = _chunking(n, w, rows_max, pair_tasks=True)
    n_pairs = c * (c + 1) // 2
    waves = math.ceil(n_pairs / w)
    cols = products(DEFAULTS)
    k = cols[-1]
    compute = sum(waves * r * r * (coef["alpha"] + coef["beta"] * m) for m in cols)
    sched = len(cols) * (n_pairs + c) * ASSUMED["seconds_per_task"]
    # a pair task sends back 2 r m float64 sums to its chunks' sum tasks, on another
    # worker with probability 1 - 1/w; spread over the workers' links
    bw = ASSUMED["gpu_bandwidth_bytes_per_s" if gpu else "bandwidth_bytes_per_s"]
    comm = sum(n_pairs * 16 * r * m for m in cols) * (1 - 1 / w) / (w * bw)
    seconds = dict(compute=compute, scheduler=sched, network=comm)
    share = math.ceil(c / w) * r  # rows each worker holds (whole chunks)
    tile = r * (r if gpu else ASSUMED["cpu_tile_cols"]) * 4
    task = 2 * r * (D + 2) * 4 + 2 * r * k * 4 + 2 * r * k * 8 + tile
    per_worker = share * (8 * D + 2 * 4 * (D + 2) + 4 * 8 * k) + task
    client = 8 * n + 2 * 8 * DEFAULTS["n_lanczos_steps"] * k
    return seconds, per_worker, client, r


def plan_knn(n: int, w: int, coef: dict) -> tuple[dict, float, float, int]:
    """Seconds by term, bytes per worker and on the client, chunk rows: kNN slq, w workers."""
    r, c = _chunking(n, w, ASSUMED["cpu_chunk_rows_max"], pair_tasks=False)
    cols = products(DEFAULTS)
    k = cols[-1]
    bw = ASSUMED["bandwidth_bytes_per_s"]
    # each worker reads every other worker's chunks of X once
    search = math.ceil(c * c / w) * r * r * coef["sigma"]
    search_comm = 8 * n * D * (1 - 1 / w) / bw
    share = math.ceil(c / w) * r
    nnz_row = 2 * (N_NEIGHBORS + 1)  # the symmetrised graph: at most twice k + 1 per row
    halo = 0 if w == 1 else min(n - share, nnz_row * share)  # neighbours held elsewhere
    # the plain recurrence: the product, then orthogonalisation against two vectors
    step = coef["rho"] + 2 * 2 * 2 * coef["rho_reorth"]
    prods = sum(share * m * step for m in cols) + share * coef["per_point"]
    comm = search_comm + sum(8 * m * halo for m in cols) / bw
    sched = (c * c + len(cols) * c) * ASSUMED["seconds_per_task"]
    seconds = dict(search=search, products=prods, scheduler=sched, network=comm)
    per_worker = share * (8 * D + 12 * nnz_row + 4 * 8 * k) + 8 * k * halo
    client = 8 * n + 2 * 8 * DEFAULTS["n_lanczos_steps"] * k
    return seconds, per_worker, client, r


def _time(s: float) -> str:
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    if s < 2 * 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.0f} d"


def _bytes(b: float) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if b >= size:
            return f"{b / size:.1f} {unit}"
    return f"{b / 2**10:.0f} KiB"


def planning_tables(res: dict, gpu: dict | None) -> str:
    out = []
    kinds = [("Gaussian kernel, matrix-free slq, one CPU core per worker", "cpu")]
    if gpu:
        kinds.append((f"Gaussian kernel, matrix-free slq, one {gpu['device']} per worker", "gpu"))
    kinds.append(("kNN kernel (exact blockwise search), slq, one CPU core per worker", "knn"))
    for title, kind in kinds:
        rows = []
        for n in SIZES:
            for w in WORKERS:
                if kind == "knn":
                    s, pw, cl, r = plan_knn(n, w, res["knn"])
                else:
                    coef = gpu if kind == "gpu" else res["gaussian"]
                    s, pw, cl, r = plan_gaussian(n, w, coef, kind == "gpu")
                total = sum(s.values())
                big = max(s, key=s.get)
                rows.append(
                    [
                        f"{n:.0e}",
                        str(w),
                        str(r),
                        _time(total),
                        f"{big} {s[big] / total:.0%}",
                        _bytes(pw),
                        _bytes(cl),
                    ]
                )
        out.append(f"**{title}** (D = {D}, default settings)\n")
        out.append(
            table(
                [
                    "N",
                    "workers",
                    "chunk rows",
                    "time",
                    "largest term",
                    "memory per worker",
                    "client",
                ],
                rows,
            )
        )
        out.append("")
    return "\n".join(out)


def report(res: dict, gpu: dict | None) -> str:
    g, k = res["gaussian"], res["knn"]
    lines = [
        f"machine: {res['machine']}; one thread; {res['date']}; {res['load']}",
        "(coefficients fitted on the process's CPU time: the machine is shared)",
        "",
    ]
    if res.get("runs"):
        lines.append(
            table(
                ["kernel", "setting", "N", "products", "columns", "CPU s", "wall s"],
                [
                    [
                        r["kernel"],
                        r["setting"],
                        str(r["n"]),
                        str(len(products(_settings(r)))),
                        str(sum(products(_settings(r)))),
                        f"{r['seconds']:.2f}",
                        f"{r['wall']:.2f}",
                    ]
                    for r in res["runs"]
                ],
            )
        )
        lines.append("")
    lines += [
        f"Gaussian (D = {D}): alpha = {g['alpha']:.3e} s per kernel entry and product, "
        f"beta = {g['beta']:.3e} s per entry and column",
        "  per setting, fitted N^2 coefficient against alpha * P + beta * sum(m): "
        + "; ".join(
            f"{name} {s['per_pair']:.3e} vs {s['model_per_pair']:.3e}"
            for name, s in g["settings"].items()
        ),
        f"  a Lanczos product with the default 96 columns: "
        f"{(g['alpha'] + 96 * g['beta']) * 1e9:.2f} ns per kernel entry",
        f"kNN (D = {D}, n_neighbors = {N_NEIGHBORS}): sigma = {k['sigma']:.3e} s per N^2 "
        f"(exact search), graph {k['per_point']:.3e} s per point, rho = {k['rho']:.3e} s per "
        f"column-step and point, rho_reorth = {k['rho_reorth']:.3e} s per column, point and "
        f"basis vector (residuals {', '.join(f'{x:+.2f}' for x in k['residuals'])} s)",
    ]
    if gpu:
        lines.append(
            f"GPU ({gpu['source']}): kappa = {gpu['kappa']:.3e} s per multiply-add "
            f"({1 / gpu['kappa'] / 1e12:.1f} T multiply-adds/s), alpha = {gpu['alpha']:.3e}, "
            f"beta = {gpu['beta']:.3e}"
        )
    lines += [
        "assumed (not measured): " + ", ".join(f"{key} = {val:g}" for key, val in ASSUMED.items()),
        "",
        planning_tables(res, gpu),
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=None, help="write the coefficients here")
    parser.add_argument("--from-json", type=Path, default=None, help="only print from saved")
    parser.add_argument(
        "--gpu-json",
        type=Path,
        default=HERE / "results" / "gpu_gap_h200.json",
        help="gpu_gap.py (or gpu_scale.py, gpu_check.py) results the GPU rate is derived from",
    )
    parser.add_argument("--gauss-sizes", type=int, nargs=2, default=[4000, 8000])
    parser.add_argument("--knn-sizes", type=int, nargs=2, default=[10000, 20000])
    args = parser.parse_args(argv)
    if args.from_json:
        res = json.loads(args.from_json.read_text())
    else:
        load0 = os.getloadavg()[0]
        res = measure(args.gauss_sizes, args.knn_sizes)
        res.update(
            machine=machine(),
            date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            load=f"load average {load0:.1f} before, {os.getloadavg()[0]:.1f} after",
        )
        if args.json:
            args.json.write_text(json.dumps(res, indent=2, default=float))
    print(report(res, gpu_coefficients(args.gpu_json)))


if __name__ == "__main__":
    main()
