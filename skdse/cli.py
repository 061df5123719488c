"""Command line: DSE, DSMI and entropy profiles of saved embeddings, and the demo.

Examples
--------
``skdse entropy run/epoch*.npy --t 2``, ``skdse mi emb.npz --key hidden
--labels labels.csv --json``, ``skdse profile emb.npy --ts 1 2 5 10``,
``skdse demo``. ``python -m skdse`` is the same program.

``--scheduler tcp://host:8786`` (or ``local`` for a LocalCluster on this
machine) computes on a Dask cluster: each embedding becomes a dask array of
``--chunk-rows`` rows per chunk, and independent subsamples and MI terms run
as cluster tasks (joblib's dask backend).

Inputs (read by :mod:`skdse._io`): ``.npy`` (``-`` reads one from standard
input), ``.npz`` (``--key`` names the array, optional when there is one),
``.csv`` / ``.tsv`` / ``.txt`` (separator sniffed among ``,`` ``;`` tab and
whitespace; quoted fields; a UTF-8 BOM; a header line detected), ``.parquet``
and PyTorch ``.pt`` / ``.pth`` (a tensor or a dict of tensors, loaded with
``weights_only=True``). A table's leading row-index column (pandas'
``to_csv()``, R's row names) is dropped with a note on standard error;
``--columns`` / ``--drop-columns`` choose the features; ``--flatten``
reshapes an array of rank > 2 (saved convolutional activations) to (N, -1).
With ``--affinity precomputed`` each file is the (n, n) affinity between its
samples instead (any of these formats, or a ``scipy.sparse.save_npz``
archive). A labels file has one
label per line (strings allowed) or is a one-column ``.csv``; a first line is
skipped as a header when the file has one line more than the embeddings.

Each result row gives ``n_samples`` (rows in the file) and ``n_samples_used``
(rows the spectra were computed on, fewer when ``--max-samples``
subsampled; for ``mi`` the rows of the class terms), the ``solver`` that
ran and the diffusion time ``t`` (with ``--t auto``, the knee of the entropy
profile it picked); ``mi`` rows give ``DSMI_std_error``, the standard error of
DSMI over the random subsets and slq's probes (empty, JSON ``null``, with
``--n-repeats 1``). A bad input exits with status 2 and one line naming the file.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time

import numpy as np

from . import __version__
from ._engine.dask import ClusterDataLost, ClusterError
from ._engine.inputs import flatten_samples
from ._engine.resources import InsufficientMemoryError
from ._io import STDIN_NAME, CLIError, check_readable, first_line, load_array, load_labels
from ._params import ENTROPY

__all__ = ["CLIError", "build_parser", "load_array", "load_labels", "main"]

#: Rows per chunk of the dask arrays made with ``--scheduler``: a float64
#: kernel block of two chunks is 8 * 4096**2 bytes = 128 MiB.
DEFAULT_CHUNK_ROWS = 4096

#: Seconds to wait for a Dask scheduler to answer.
CONNECT_TIMEOUT = 10


def _bandwidth(value: str):
    try:
        return float(value)
    except ValueError:
        return value


def _t(value: str):
    try:
        return float(value)
    except ValueError:
        return value  # "auto"; anything else is refused, naming t, by the validation


def _max_samples(value: str):
    return None if value.lower() == "none" else int(value)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("embeddings", nargs="+", metavar="EMB", help="embedding files")
    parser.add_argument("--key", help="array name inside .npz files, tensor name inside .pt dicts")
    parser.add_argument(
        "--columns",
        nargs="+",
        metavar="COL",
        help="the feature columns of a table (names or 0-based positions); "
        "default: all but a leading row-index column",
    )
    parser.add_argument(
        "--drop-columns",
        nargs="+",
        metavar="COL",
        help="columns that are not features (names or 0-based positions)",
    )
    parser.add_argument(
        "--flatten",
        action="store_true",
        default=ENTROPY.flatten,
        help="reshape an array of rank > 2 (N, d1, d2, ...), such as saved convolutional "
        "activations, to (N, d1*d2*...)",
    )
    parser.add_argument(
        "--affinity",
        default=ENTROPY.affinity,
        choices=ENTROPY.choices("affinity"),
        help="the kernel: dense Gaussian, the sparse adaptive kNN graph, or 'precomputed': "
        "each file is the square, symmetric, non-negative affinity between its samples "
        "(a dense array, or a scipy.sparse.save_npz .npz) "
        f"(default: {ENTROPY.affinity})",
    )
    parser.add_argument(
        "--bandwidth",
        type=_bandwidth,
        default=ENTROPY.bandwidth,
        help="float sigma, 'scale' or 'median': the Gaussian kernel's width, ignored by "
        "--affinity knn and precomputed ('knn' is deprecated: use --affinity knn) "
        f"(default: {ENTROPY.bandwidth})",
    )
    parser.add_argument(
        "--t",
        type=_t,
        default=ENTROPY.t,
        help="diffusion time, or 'auto': the knee of the entropy profile, "
        f"reported as the column t (default: {ENTROPY.t})",
    )
    parser.add_argument(
        "--base", type=float, default=ENTROPY.base, help=f"log base (default: {ENTROPY.base}, bits)"
    )
    parser.add_argument(
        "--order",
        type=float,
        default=ENTROPY.order,
        help=f"Rényi order: 1 Shannon, inf min-entropy (default: {ENTROPY.order:g})",
    )
    parser.add_argument("--solver", default=ENTROPY.solver, choices=ENTROPY.choices("solver"))
    parser.add_argument("--backend", default=ENTROPY.backend, choices=ENTROPY.choices("backend"))
    parser.add_argument("--dtype", default=ENTROPY.dtype, choices=ENTROPY.choices("dtype"))
    parser.add_argument(
        "--max-samples",
        type=_max_samples,
        default=ENTROPY.max_samples,
        help=f"subsample above this many rows; 'none' for all (default: {ENTROPY.max_samples})",
    )
    parser.add_argument(
        "--operator",
        default=ENTROPY.operator,
        choices=ENTROPY.choices("operator"),
        help=f"what slq multiplies with (default: {ENTROPY.operator})",
    )
    parser.add_argument(
        "--neighbors",
        default=ENTROPY.neighbors,
        choices=ENTROPY.choices("neighbors"),
        help="neighbour search of --affinity knn: exact, or approximate (NN-descent, needs "
        "pynndescent; on one thread, as --random-state seeds it); auto: approximate above "
        f"100000 rows where pynndescent is installed (default: {ENTROPY.neighbors})",
    )
    parser.add_argument("--random-state", type=int, default=0, help="seed (default: 0)")
    parser.add_argument(
        "--n-jobs",
        type=int,
        default=ENTROPY.n_jobs,
        help="CPUs to use, as scikit-learn's n_jobs (-1: all this process may use; "
        "default: all for the matrix-free products, one process for the terms)",
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="compute on a Dask cluster: a scheduler address such as tcp://host:8786, "
        "or 'local' for a LocalCluster on this machine (needs skdse[dask])",
    )
    parser.add_argument(
        "--chunk-rows",
        type=int,
        default=DEFAULT_CHUNK_ROWS,
        help=f"rows per dask chunk with --scheduler (default: {DEFAULT_CHUNK_ROWS})",
    )
    parser.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _subsamples(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--n-subsamples",
        type=int,
        default=ENTROPY.n_subsamples,
        help="mean DSE over this many independent subsamples of --max-samples rows "
        f"(default: {ENTROPY.n_subsamples})",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skdse",
        description="Diffusion spectral entropy (DSE) and mutual information (DSMI).",
    )
    parser.add_argument("--version", action="version", version=f"skdse {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("entropy", help="DSE of each embedding file")
    _common(p)
    _subsamples(p)
    p = sub.add_parser("mi", help="DSMI of each embedding file with labels or a reference")
    _common(p)
    ref = p.add_mutually_exclusive_group(required=True)
    ref.add_argument("--labels", help="class labels, one per embedding row")
    ref.add_argument("--reference", help="a continuous reference (vector or scalar per row)")
    p.add_argument("--labels-key", help="array name inside a .npz labels/reference file")
    p.add_argument(
        "--n-repeats", type=int, default=ENTROPY.n_repeats, help="random subsets per class"
    )
    p = sub.add_parser("profile", help="DSE over a range of diffusion times")
    _common(p)
    _subsamples(p)
    p.add_argument(
        "--ts",
        type=float,
        nargs="+",
        default=[1, 2, 3, 5, 10, 20],
        help="diffusion times (default: 1 2 3 5 10 20)",
    )
    p = sub.add_parser("demo", help="DSE/DSMI of an MLP's hidden layer while it trains on digits")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--output", default="skdse-demo", help="folder for demo.csv and demo.png")
    p.add_argument("--random-state", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def _params(args) -> dict:
    return dict(
        affinity=args.affinity,
        bandwidth=args.bandwidth,
        t=args.t,
        base=args.base,
        order=args.order,
        solver=args.solver,
        operator=args.operator,
        neighbors=args.neighbors,
        backend=args.backend,
        dtype=args.dtype,
        max_samples=args.max_samples,
        random_state=args.random_state,
        n_jobs=args.n_jobs,
        verbose=int(not args.quiet and sys.stderr.isatty()),
    )


@contextlib.contextmanager
def dask_cluster(address: str | None):
    """Send skdse's work to the Dask scheduler at ``address`` ("local": a new LocalCluster).

    Inside, dask arrays compute there and joblib's tasks (subsamples, MI
    terms) go to the cluster's workers. ``None``: nothing changes.
    """
    if address is None:
        yield None
        return
    try:
        import joblib
        from distributed import Client, LocalCluster
    except ImportError:
        raise CLIError("--scheduler needs dask: pip install 'skdse[dask]'") from None
    with contextlib.ExitStack() as stack:
        if address == "local":
            cluster = stack.enter_context(LocalCluster(dashboard_address=None))
            client = stack.enter_context(Client(cluster))
        else:
            try:
                client = stack.enter_context(Client(address, timeout=CONNECT_TIMEOUT))
            except (OSError, TimeoutError, ValueError) as exc:
                raise CLIError(
                    f"cannot connect to the Dask scheduler at {address} "
                    f"({type(exc).__name__}: {exc})"
                ) from None
        stack.enter_context(joblib.parallel_config(backend="dask"))
        yield client


def _as_dask(X: np.ndarray, chunk_rows: int):
    from ._engine.dask import scatter_rows

    if X.ndim != 2 or X.shape[0] == 0:
        return X  # validation names the problem
    return scatter_rows(X, chunk_rows)


def _fit(est, X: np.ndarray, args, *y):
    """``est.fit(X, *y)``; with ``--scheduler``, on X's rows scattered to the cluster.

    Scattered rows have no copy the cluster could recompute: if it loses
    them (every worker holding a chunk died), they are sent again and the fit
    runs once more (same seeds, so the same result).
    """
    if args.scheduler is None:
        return est.fit(X, *y)
    try:
        return est.fit(_as_dask(X, args.chunk_rows), *y)
    except ClusterDataLost:
        print(
            f"skdse {args.command}: the cluster lost rows of X; sending them again", file=sys.stderr
        )
        return est.fit(_as_dask(X, args.chunk_rows), *y)


def _run_measure(args, emit) -> None:
    if args.chunk_rows < 2:
        raise CLIError("--chunk-rows must be at least 2")
    inputs = [*args.embeddings, *filter(None, [getattr(args, "labels", None)])]
    inputs += filter(None, [getattr(args, "reference", None)])
    if inputs.count("-") > 1:
        raise CLIError("standard input ('-') can be read only once")
    estimator = _estimator(args)
    try:  # an option's bad value is not the first file's fault: say so before reading any
        estimator._validate_params()
    except (ValueError, TypeError) as exc:
        raise CLIError(first_line(exc)) from None
    for path in inputs:  # before any computing: a typo in the last file costs nothing
        check_readable(path)
    with dask_cluster(args.scheduler):
        reference = None
        if getattr(args, "reference", None) is not None:
            reference = load_array(args.reference, args.labels_key)
            if reference.ndim == 2 and reference.shape[1] == 1:
                reference = reference[:, 0]
        for path in args.embeddings:
            try:
                emit(_measure_file(args, path, reference, estimator))
            except (ValueError, TypeError, InsufficientMemoryError) as exc:
                name = STDIN_NAME if path == "-" else path
                raise CLIError(f"{name}: {first_line(exc)}") from None


def _estimator(args):
    """The estimator of the command, with the options' parameters (validated by its fit)."""
    from ._estimators import DiffusionSpectralEntropy, DiffusionSpectralMI

    if args.command == "mi":
        return DiffusionSpectralMI(n_repeats=args.n_repeats, **_params(args))
    return DiffusionSpectralEntropy(n_subsamples=args.n_subsamples, **_params(args))


def _load_sparse_affinity(args, path):
    """A ``scipy.sparse.save_npz`` file given with ``--affinity precomputed``, else None."""
    if args.affinity != "precomputed" or not str(path).lower().endswith(".npz"):
        return None
    try:
        with np.load(path) as archive:
            names = set(archive.files)
    except Exception:  # not an archive: load_array says what is wrong
        return None
    if not {"format", "indptr", "indices", "data", "shape"} <= names:
        return None
    if args.scheduler is not None:
        raise CLIError(f"{path}: a sparse affinity is computed in memory; drop --scheduler")
    import scipy.sparse

    return scipy.sparse.load_npz(path)


def _measure_file(args, path, reference, estimator) -> dict:
    X = _load_sparse_affinity(args, path)
    if X is None:
        X = load_array(path, args.key, columns=args.columns, drop_columns=args.drop_columns)
        if args.flatten:
            X = flatten_samples(X)
        elif X.ndim > 2:
            raise ValueError(
                f"an array of shape {X.shape}; pass --flatten to reshape it to (N, -1)"
            )
    n_samples = int(X.shape[0]) if X.ndim else 0
    start = time.perf_counter()
    row = {"file": str(path), "n_samples": n_samples, "n_samples_used": None}
    row["n_features"] = int(X.shape[1]) if X.ndim == 2 else None
    if args.command == "mi":
        if reference is not None:
            y = reference
            if y.shape[0] != n_samples:
                raise CLIError(
                    f"{args.reference}: {y.shape[0]} rows for {n_samples} embedding rows"
                )
        else:
            y = load_labels(args.labels, n_samples, args.labels_key)
        est = _fit(estimator, X, args, y)
        std = est.mutual_information_std_  # NaN for --n-repeats 1: null, valid JSON
        row.update(
            DSMI=est.mutual_information_,
            DSMI_std_error=std if np.isfinite(std) else None,
            DSE=est.entropy_,
            conditional_DSE=est.conditional_entropy_,
            n_groups=len(est.groups_),
            solver=est.solver_,
            n_samples_used=int(est.n_samples_used_),
        )
    else:
        est = _fit(estimator, X, args)
        if args.command == "profile":
            row.update(
                {f"t={t:g}": float(h) for t, h in zip(args.ts, est.entropy_profile(args.ts))}
            )
        else:
            row.update(DSE=est.entropy_, std_error=est.entropy_std_)
        row.update(solver=est.solver_, n_samples_used=int(est.n_samples_used_))
    row["t"] = est.t_  # the knee with --t auto
    row["affinity"] = est.affinity_
    row["bandwidth"] = est.bandwidth_  # None (empty) for knn and precomputed: no single width
    row["seconds"] = round(time.perf_counter() - start, 3)
    return row


def _print_rows(rows: list[dict], as_json: bool) -> None:
    if as_json or not rows:
        return  # JSON rows are printed as they come
    keys = list(rows[0])
    cells = [[_fmt(r.get(k)) for k in keys] for r in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
    print(
        "  ".join(
            k.ljust(w) if i == 0 else k.rjust(w) for i, (k, w) in enumerate(zip(keys, widths))
        )
    )
    for c in cells:
        print(
            "  ".join(
                v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(c, widths))
            )
        )


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    return "" if v is None else str(v)


def main(argv=None) -> int:
    """Entry point of the ``skdse`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    rows: list[dict] = []

    def emit(row: dict) -> None:
        if args.json:  # streamed: a later file's error keeps the earlier results
            print(json.dumps(row), flush=True)
        else:
            rows.append(row)

    try:
        if args.command == "demo":
            from ._demo import run_demo

            if args.epochs < 1:
                raise CLIError("--epochs must be at least 1")
            run_demo(
                epochs=args.epochs,
                hidden=args.hidden,
                output=args.output,
                random_state=args.random_state,
                verbose=int(not args.quiet and sys.stderr.isatty()),
            )
            return 0
        _run_measure(args, emit)
        _print_rows(rows, args.json)
        return 0
    except (
        CLIError,
        ValueError,
        TypeError,
        InsufficientMemoryError,
        ImportError,
        ClusterError,
    ) as exc:
        _print_rows(rows, getattr(args, "json", False))  # the files done before the error
        print(f"skdse {args.command}: error: {first_line(exc)}", file=sys.stderr)
        # the cluster failed, not the input: status 1; bad input: 2
        return 1 if isinstance(exc, ClusterError) else 2
    except KeyboardInterrupt:  # pragma: no cover
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
