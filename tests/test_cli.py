"""The command line, through subprocesses on temporary files, and the demo."""

import json
import subprocess
import sys

import numpy as np
import pytest

from skdse import diffusion_spectral_entropy, diffusion_spectral_mutual_information

RNG = np.random.default_rng(0)
Y = np.repeat([0, 1, 2], 40)
X = RNG.normal(size=(120, 5)) + 3 * Y[:, None]


def skdse(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "skdse", *map(str, args)], capture_output=True, text=True, cwd=cwd
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
    kw = dict(solver="slq", operator="matrix_free", random_state=0)
    out = skdse(
        "entropy", files / "a.npy", "--solver", "slq", "--operator", "matrix_free", "--json"
    )
    assert abs(json.loads(out.stdout)["DSE"] - diffusion_spectral_entropy(X, **kw)) < 1e-9
    bad = skdse("entropy", files / "a.npy", "--chunk-rows", 1)
    assert bad.returncode == 2 and "--chunk-rows must be at least 2" in bad.stderr
    bad = skdse("entropy", files / "a.npy", "--operator", "sparse")
    assert bad.returncode == 2 and "argument --operator: invalid choice" in bad.stderr


def test_mi_with_labels_file(files):
    out = skdse("mi", files / "a.npy", "--labels", files / "labels.txt", "--json")
    assert out.returncode == 0, out.stderr
    row = json.loads(out.stdout)
    ref = diffusion_spectral_mutual_information(X, Y, random_state=0)
    assert abs(row["DSMI"] - ref) < 1e-9 and row["n_groups"] == 3
    same = json.loads(skdse("mi", files / "a.npy", "--labels", files / "ylab.npy", "--json").stdout)
    assert same["DSMI"] == row["DSMI"]


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
        (["entropy", "bad.csv"], "not a numeric table"),
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
