"""The command line, through subprocesses on temporary files, and the demo."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from skdse import diffusion_spectral_entropy, diffusion_spectral_mutual_information

from ._tolerances import EXACT_TOL, SLQ_TOL

ROOT = Path(__file__).resolve().parents[1]
RNG = np.random.default_rng(0)
Y = np.repeat([0, 1, 2], 40)
X = RNG.normal(size=(120, 5)) + 3 * Y[:, None]


# The subprocesses import this checkout's skdse, whatever their working directory.
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def skdse(*args, cwd=None, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "skdse", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=ENV,
        **kwargs,
    )


@pytest.fixture
def files(tmp_path):
    np.save(tmp_path / "a.npy", X)
    np.save(tmp_path / "b.npy", 2 * X[:60])
    np.savez(tmp_path / "c.npz", hidden=X, other=X[:, :2])
    header = ",".join(f"f{i}" for i in range(5))
    np.savetxt(tmp_path / "d.csv", X, delimiter=",", header=header, comments="")
    np.savetxt(tmp_path / "e.tsv", X, delimiter="\t")
    (tmp_path / "labels.txt").write_text("label\n" + "\n".join(f"class{v}" for v in Y))
    np.save(tmp_path / "ylab.npy", Y)
    return tmp_path


def test_entropy_several_files_and_formats(files):
    out = skdse(
        "entropy",
        files / "a.npy",
        files / "b.npy",
        files / "d.csv",
        files / "e.tsv",
        "--t",
        2,
        "--json",
    )
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["n_samples"] for r in rows] == [120, 60, 120, 120]
    expected = diffusion_spectral_entropy(X, t=2, random_state=0)
    for r in (rows[0], rows[2], rows[3]):  # the csv header was detected and skipped
        assert abs(r["DSE"] - expected) < 1e-9
    table = skdse("entropy", files / "c.npz", "--key", "hidden")
    assert table.returncode == 0 and "DSE" in table.stdout.splitlines()[0]
    assert (
        f"{expected:.4f}" in skdse("entropy", files / "c.npz", "--key", "hidden", "--t", 2).stdout
    )


def test_subsample_ensemble_and_operator_options(files):
    out = skdse("entropy", files / "a.npy", "--max-samples", 50, "--n-subsamples", 3, "--json")
    assert out.returncode == 0, out.stderr
    row = json.loads(out.stdout)
    kw = dict(max_samples=50, n_subsamples=3, random_state=0)
    assert abs(row["DSE"] - diffusion_spectral_entropy(X, **kw)) < 1e-9
    assert row["std_error"] > 0  # the spread of the three subsamples
    two = skdse(
        "entropy",
        files / "a.npy",
        "--max-samples",
        50,
        "--n-subsamples",
        3,
        "--n-jobs",
        2,
        "--json",
    )
    assert two.returncode == 0, two.stderr
    assert abs(json.loads(two.stdout)["DSE"] - row["DSE"]) <= EXACT_TOL
    bad = skdse("entropy", files / "a.npy", "--n-jobs", 0)
    assert bad.returncode == 2 and "n_jobs" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    kw = dict(solver="slq", operator="matrix_free", random_state=0)
    out = skdse(
        "entropy", files / "a.npy", "--solver", "slq", "--operator", "matrix_free", "--json"
    )
    # slq's float32 products in another process: the reproducibility tolerance of slq
    assert abs(json.loads(out.stdout)["DSE"] - diffusion_spectral_entropy(X, **kw)) <= SLQ_TOL
    bad = skdse("entropy", files / "a.npy", "--chunk-rows", 1)
    assert bad.returncode == 2 and "--chunk-rows must be at least 2" in bad.stderr
    bad = skdse("entropy", files / "a.npy", "--operator", "sparse")
    assert bad.returncode == 2 and "argument --operator: invalid choice" in bad.stderr


def test_mi_with_labels_file(files):
    out = skdse("mi", files / "a.npy", "--labels", files / "labels.txt", "--json")
    assert out.returncode == 0, out.stderr
    row = json.loads(out.stdout)
    ref = diffusion_spectral_mutual_information(X, Y, random_state=0)
    assert abs(row["DSMI"] - ref) <= EXACT_TOL and row["n_groups"] == 3
    same = json.loads(skdse("mi", files / "a.npy", "--labels", files / "ylab.npy", "--json").stdout)
    # another process: the same labels from another file, within the reproducibility tolerance
    assert abs(same["DSMI"] - row["DSMI"]) <= EXACT_TOL


def test_profile(files):
    out = skdse("profile", files / "a.npy", "--ts", 1, 2, 5, "--json")
    assert out.returncode == 0, out.stderr
    row = json.loads(out.stdout)
    values = [row["t=1"], row["t=2"], row["t=5"]]
    assert values == sorted(values, reverse=True)
    assert abs(row["t=5"] - diffusion_spectral_entropy(X, t=5, random_state=0)) < 1e-9


@pytest.mark.parametrize(
    "args, message",
    [
        (["entropy", "missing.npy"], "no such file"),
        (["entropy", "c.npz"], "choose one with --key"),
        (["entropy", "c.npz", "--key", "nope"], "no array 'nope'"),
        (["entropy", "vec.npy"], "2D"),
        (["entropy", "bad.csv"], "bad.csv: column 1 is not numeric"),
        (["entropy", "a.npy", "--bandwidth", "-1"], "bandwidth"),
        (["entropy", "a.npy", "--bandwidth", "wide"], "bandwidth"),
        (["mi", "a.npy", "--labels", "short.txt"], "must match"),
        (["entropy", "notes.md"], "unknown format"),
        (["demo", "--epochs", "0"], "--epochs"),
        (["entropy", "a.npy", "--n-subsamples", "0"], "n_subsamples"),
    ],
)
def test_bad_input_exits_with_one_line(files, args, message):
    np.save(files / "vec.npy", np.arange(10.0))
    (files / "bad.csv").write_text("1,2\n3,x\n")
    (files / "short.txt").write_text("1\n2\n")
    (files / "notes.md").write_text("hi")
    out = skdse(*args, cwd=files)
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_help_lists_subcommands():
    out = skdse("--help")
    assert out.returncode == 0
    for cmd in ("entropy", "mi", "profile", "demo"):
        assert cmd in out.stdout


def test_demo_reduced_shows_dsmi_trend(tmp_path):
    out = skdse("demo", "--epochs", 8, "--output", tmp_path / "demo", "--quiet")
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "demo" / "demo.png").stat().st_size > 1000
    import csv

    with open(tmp_path / "demo" / "demo.csv") as fh:
        rows = list(csv.DictReader(fh))
    dsmi = {
        name: [float(r["DSMI"]) for r in rows if r["labels"] == name]
        for name in ("true", "shuffled")
    }
    assert len(dsmi["true"]) == len(dsmi["shuffled"]) == 8
    rise_true = dsmi["true"][-1] - dsmi["true"][0]
    rise_shuffled = dsmi["shuffled"][-1] - dsmi["shuffled"][0]
    assert rise_true > 0.1, dsmi
    assert rise_true > rise_shuffled + 0.1, dsmi
    assert "epoch" in out.stdout and "wrote" in out.stdout


# --------------------------------------------------------------------------------------
# Issue 12 item 5: the command line never reads a wrong table; item 8: no crash on a bad
# file, and every per-file error names its file.

try:
    import pandas as pd
except ImportError:  # the `cli` extra brings it; the tables test without it below
    pd = None
needs_pandas = pytest.mark.skipif(pd is None, reason="pandas (skdse[cli]) is not installed")

EXPECTED = diffusion_spectral_entropy(X, random_state=0)
BLOCK = "import sys; sys.modules.update(dict.fromkeys({mods}, None)); "
RUN_MAIN = "from skdse.cli import main; raise SystemExit(main(sys.argv[1:]))"


def skdse_without(modules, *args, cwd=None):
    """The CLI in a process where importing ``modules`` fails (as if not installed)."""
    code = BLOCK.format(mods=list(modules)) + RUN_MAIN
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=ENV,
    )


def json_rows(out):
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def one_line_error(out, *fragments):
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def _r_write_csv(path):  # R: write.csv(df) -- quoted header with "" and quoted row names
    header = '"",' + ",".join(f'"V{j + 1}"' for j in range(X.shape[1]))
    body = [f'"{i + 1}",' + ",".join(repr(float(v)) for v in r) for i, r in enumerate(X)]
    path.write_text("\n".join([header, *body]) + "\n")


def _r_write_table(path):  # R: write.table(df) -- space separated, header one field short
    header = " ".join(f'"V{j + 1}"' for j in range(X.shape[1]))
    body = [f'"{i + 1}" ' + " ".join(repr(float(v)) for v in r) for i, r in enumerate(X)]
    path.write_text("\n".join([header, *body]) + "\n")


def _excel_csv_utf8(path):  # Excel "CSV UTF-8": a BOM, every field quoted, no header
    body = [",".join(f'"{float(v)!r}"' for v in r) for r in X]
    path.write_bytes("\n".join(body).encode("utf-8-sig"))


TABLES = {
    # name: (writer, a note about a dropped index column expected)
    "pandas_index.csv": (lambda p: pd.DataFrame(X, columns=list("abcde")).to_csv(p), True),
    "pandas_numbered.csv": (lambda p: pd.DataFrame(X).to_csv(p), True),
    "pandas_no_index.csv": (lambda p: pd.DataFrame(X).to_csv(p, index=False), False),
    "semicolon.csv": (lambda p: pd.DataFrame(X).to_csv(p, sep=";", decimal=","), True),
    "excel_bom_quoted.csv": (_excel_csv_utf8, False),
    "r_write_csv.csv": (_r_write_csv, True),
    "r_write_table.txt": (_r_write_table, True),
    "id_column.tsv": (
        lambda p: pd.DataFrame(X).rename_axis("id").reset_index().to_csv(p, sep="\t", index=False),
        True,
    ),
}


@needs_pandas
@pytest.mark.parametrize("name", list(TABLES))
def test_tables_read_as_the_array(tmp_path, name):
    writer, index_note = TABLES[name]
    writer(tmp_path / name)
    out = skdse("entropy", tmp_path / name, "--json")
    (row,) = json_rows(out)
    assert row["n_samples"] == 120 and row["n_features"] == 5
    assert abs(row["DSE"] - EXPECTED) < 1e-9
    if index_note:
        assert "as a row index" in out.stderr and name in out.stderr
    else:
        assert out.stderr == ""


@needs_pandas
def test_tables_without_pandas_read_the_same(tmp_path):
    names = ["pandas_index.csv", "semicolon.csv", "excel_bom_quoted.csv", "r_write_table.txt"]
    for name in names:
        TABLES[name][0](tmp_path / name)
    out = skdse_without(["pandas"], "entropy", *(tmp_path / n for n in names), "--json")
    rows = json_rows(out)
    assert [r["n_features"] for r in rows] == [5] * 4
    assert all(abs(r["DSE"] - EXPECTED) < 1e-9 for r in rows)
    assert out.stderr.count("as a row index") == 3


@needs_pandas
def test_choosing_columns(tmp_path):
    frame = pd.DataFrame(X, columns=list("abcde"))
    frame.insert(0, "sample", [f"s{i}" for i in range(len(X))])
    frame["label"] = np.array(["x", "y", "z"])[Y]
    frame.to_csv(tmp_path / "t.csv", index=False)
    rows = json_rows(skdse("entropy", tmp_path / "t.csv", "--drop-columns", "sample", 6, "--json"))
    assert abs(rows[0]["DSE"] - EXPECTED) < 1e-9
    out = skdse("entropy", tmp_path / "t.csv", "--columns", "a", "c", 5, "--json")
    expected = diffusion_spectral_entropy(X[:, [0, 2, 4]], random_state=0)
    assert abs(json_rows(out)[0]["DSE"] - expected) < 1e-9
    np.save(tmp_path / "x.npy", X)  # positions apply to arrays too
    out = skdse("entropy", tmp_path / "x.npy", "--columns", 0, 2, 4, "--json")
    assert abs(json_rows(out)[0]["DSE"] - expected) < 1e-9
    out = skdse("entropy", tmp_path / "t.csv", "--json")  # a string column is not a feature
    one_line_error(out, "t.csv", "column 'sample' (position 0) is not numeric", "--columns")
    out = skdse("entropy", tmp_path / "t.csv", "--columns", "a", "nope")
    one_line_error(out, "t.csv", "no column named 'nope'")


@needs_pandas
def test_labels_with_bom_and_pandas_index(tmp_path):
    np.save(tmp_path / "x.npy", X)
    text = "\n".join(f"class{v}" for v in Y)
    (tmp_path / "bom.txt").write_bytes(text.encode("utf-8-sig"))
    (tmp_path / "num_bom.txt").write_bytes("\n".join(map(str, Y)).encode("utf-8-sig"))
    pd.Series(np.array(["a", "b", "c"])[Y], name="label").to_csv(tmp_path / "pandas.csv")
    expected = diffusion_spectral_mutual_information(X, Y, random_state=0)
    for labels in ("bom.txt", "num_bom.txt", "pandas.csv"):
        (row,) = json_rows(skdse("mi", tmp_path / "x.npy", "--labels", tmp_path / labels, "--json"))
        assert row["n_groups"] == 3, labels
        assert abs(row["DSMI"] - expected) < 1e-9, labels


@needs_pandas
def test_parquet(tmp_path):
    pytest.importorskip("pyarrow")
    pd.DataFrame(X, columns=list("abcde")).to_parquet(tmp_path / "x.parquet")
    (row,) = json_rows(skdse("entropy", tmp_path / "x.parquet", "--json"))
    assert abs(row["DSE"] - EXPECTED) < 1e-9 and row["n_features"] == 5
    out = skdse_without(["pyarrow", "fastparquet"], "entropy", tmp_path / "x.parquet")
    one_line_error(out, "x.parquet", "needs pyarrow")


def test_torch_files(tmp_path):
    torch = pytest.importorskip("torch")
    torch.save(torch.from_numpy(X), tmp_path / "x.pt")
    torch.save({"hidden": torch.from_numpy(X), "logits": torch.zeros(120, 3)}, tmp_path / "d.pth")
    rows = json_rows(
        skdse("entropy", tmp_path / "x.pt", tmp_path / "d.pth", "--key", "hidden", "--json")
    )
    assert all(abs(r["DSE"] - EXPECTED) < 1e-9 for r in rows)
    one_line_error(skdse("entropy", tmp_path / "d.pth"), "d.pth", "choose one with --key")


class _Trap:
    """Unpickling this would create the marker file; weights_only must refuse it."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_torch_pickled_object_is_refused(tmp_path):
    torch = pytest.importorskip("torch")
    marker = tmp_path / "unpickled"
    torch.save({"X": torch.from_numpy(X), "trap": _Trap(marker)}, tmp_path / "trap.pt")
    out = skdse("entropy", tmp_path / "trap.pt", "--key", "X")
    one_line_error(out, "trap.pt", "weights_only=True")
    assert not marker.exists()


def test_stdin_and_version(tmp_path):
    np.save(tmp_path / "x.npy", X)
    with open(tmp_path / "x.npy", "rb") as fh:
        out = skdse("entropy", "-", "--json", stdin=fh)
    (row,) = json_rows(out)
    assert row["file"] == "-" and abs(row["DSE"] - EXPECTED) < 1e-9
    out = skdse("--version")
    import skdse as package

    assert out.returncode == 0 and out.stdout.strip() == f"skdse {package.__version__}"


def test_rows_say_rows_used_and_solver(tmp_path):
    np.save(tmp_path / "x.npy", X)
    x = tmp_path / "x.npy"
    (full, sub) = [
        json_rows(skdse("entropy", x, "--max-samples", m, "--json"))[0] for m in ("none", 50)
    ]
    assert (full["n_samples"], full["n_samples_used"], full["solver"]) == (120, 120, "exact")
    assert (sub["n_samples"], sub["n_samples_used"], sub["solver"]) == (120, 50, "exact")
    assert abs(sub["DSE"] - diffusion_spectral_entropy(X, max_samples=50, random_state=0)) < 1e-9
    (prof,) = json_rows(skdse("profile", x, "--ts", 1, "--solver", "slq", "--json"))
    assert (prof["n_samples_used"], prof["solver"]) == (120, "slq")
    np.save(tmp_path / "y.npy", Y)
    out = skdse("mi", x, "--labels", tmp_path / "y.npy", "--max-samples", 30, "--json")
    (mi,) = json_rows(out)
    assert (mi["n_samples"], mi["n_samples_used"], mi["solver"]) == (120, 90, "exact")
    expected = diffusion_spectral_mutual_information(X, Y, max_samples=30, random_state=0)
    assert abs(mi["DSMI"] - expected) < 1e-9


def _huge_header_npy(path):
    """A .npy whose header declares a (1e5, 1e5) float64 array, with no data."""
    import io

    buf = io.BytesIO()
    header = {"descr": "<f8", "fortran_order": False, "shape": (100_000, 100_000)}
    np.lib.format.write_array_header_1_0(buf, header)
    path.write_bytes(buf.getvalue())


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda p: p.write_bytes(b""), "empty (0 bytes), not a .npy array"),
        (_huge_header_npy, "header declares a (100000, 100000) float64 array"),
        (lambda p: p.write_text("x,y\n1,2\n"), "not a .npy array"),
    ],
    ids=["empty", "huge-header", "text"],
)
def test_corrupt_npy_second_of_two_files(tmp_path, make, fragment):
    np.save(tmp_path / "good.npy", X)
    make(tmp_path / "bad.npy")
    out = skdse("entropy", tmp_path / "good.npy", tmp_path / "bad.npy", "--json")
    line = one_line_error(out, fragment)
    assert line.startswith(f"skdse entropy: error: {tmp_path / 'bad.npy'}: ")
    (row,) = [json.loads(s) for s in out.stdout.splitlines()]  # the good file's result stays
    assert row["file"] == str(tmp_path / "good.npy") and abs(row["DSE"] - EXPECTED) < 1e-9


@pytest.mark.parametrize(
    "args, make, fragments",
    [
        (
            ["entropy", "bad.npz"],
            lambda d: (d / "bad.npz").write_bytes(b"PK not zip"),
            ["bad.npz", "not a .npz archive"],
        ),
        (
            ["entropy", "a.npy", "vec.npy"],
            lambda d: np.save(d / "vec.npy", np.ones(5)),
            ["vec.npy", "2D"],
        ),
        (["entropy", "-", "-"], None, ["standard input", "once"]),
        (["entropy", "a.npy", "missing.csv"], None, ["missing.csv", "no such file"]),
    ],
    ids=["non-zip-npz", "second-file-1d", "stdin-twice", "missing-second"],
)
def test_bad_files_are_named(files, args, make, fragments):
    if make is not None:
        make(files)
    one_line_error(skdse(*args, cwd=files), *fragments)


@needs_pandas
@pytest.mark.parametrize("name", [n for n in TABLES if not n.endswith(".parquet")])
def test_text_reader_without_pandas_matches_pandas(tmp_path, name):
    from skdse._io import read_text_table

    TABLES[name][0](tmp_path / name)
    arrays = []
    for use_pandas in (True, False):
        table = read_text_table(tmp_path / name, use_pandas=use_pandas)
        arrays.append(table.to_array(table.select()))
    np.testing.assert_array_equal(arrays[0], X)  # decimal text round-trips float64
    np.testing.assert_array_equal(arrays[1], X)


def test_integer_table_keeps_its_first_row_and_column(tmp_path):
    from skdse._io import load_array

    grid = np.array([[0, 1, 2], [3, 4, 5], [6, 8, 9], [7, 10, 11]])
    np.savetxt(tmp_path / "grid.csv", grid, fmt="%d", delimiter=",")
    np.testing.assert_array_equal(load_array(tmp_path / "grid.csv"), grid)


def test_scheduler_rows_lost_by_the_cluster_are_sent_again(monkeypatch, capsys):
    import argparse

    from skdse import cli
    from skdse._engine.dask import ClusterDataLost

    sent = []
    monkeypatch.setattr(cli, "_as_dask", lambda X, rows: sent.append(X) or X)

    class LosesOnce:
        fits = 0

        def fit(self, X, *y):
            LosesOnce.fits += 1
            if LosesOnce.fits == 1:
                raise ClusterDataLost("lost rows")
            return self

    args = argparse.Namespace(scheduler="tcp://127.0.0.1:1", chunk_rows=10, command="entropy")
    est = LosesOnce()
    assert cli._fit(est, X, args) is est
    assert len(sent) == 2 and all(s is X for s in sent)  # scattered again from the host copy
    assert "sending them again" in capsys.readouterr().err

    class AlwaysLoses:
        def fit(self, X, *y):
            raise ClusterDataLost("lost rows")

    with pytest.raises(ClusterDataLost):  # a second loss is the error
        cli._fit(AlwaysLoses(), X, args)


def test_cluster_failure_is_one_line_with_status_1(monkeypatch, files, capsys):
    from skdse import cli
    from skdse._engine.dask import NoWorkerLeft

    def no_worker(args, emit):
        raise NoWorkerLeft("no Dask worker is left on the scheduler at tcp://x")

    monkeypatch.setattr(cli, "_run_measure", no_worker)
    assert cli.main(["entropy", str(files / "a.npy")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["skdse entropy: error: no Dask worker is left on the scheduler at tcp://x"]


@pytest.mark.parametrize(
    "option, message",
    [
        (["--n-jobs", "0"], "'n_jobs' parameter of DiffusionSpectralEntropy must be None"),
        (["--max-samples", "1"], "'max_samples' parameter of DiffusionSpectralEntropy must be"),
        (["--n-subsamples", "0"], "'n_subsamples' parameter of DiffusionSpectralEntropy must be"),
    ],
)
def test_cli_bad_option_is_not_blamed_on_a_file(tmp_path, capsys, option, message):
    # the option was validated while measuring the first file, so the error
    # read "first.npy: n_jobs must ...", as if the file were bad
    from skdse.cli import main

    np.save(tmp_path / "first.npy", X)
    assert main(["entropy", str(tmp_path / "first.npy"), *option]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert "first.npy" not in err


@pytest.mark.parametrize("sep", [",", ";"])
def test_cli_ragged_csv_says_rows_differ(tmp_path, capsys, sep):
    # no separator split the rows evenly, so the file was read as one column
    # of text: "column '1,2,3' (position 0) is not numeric (holds '4,5')"
    from skdse.cli import main

    path = tmp_path / "ragged.csv"
    path.write_text(f"1{sep}2{sep}3\n4{sep}5\n6{sep}7{sep}8\n")
    assert main(["entropy", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"rows have different numbers of {sep!r}-separated fields (2 to 3)" in err
