"""The command line's --neighbors: the kNN affinity's neighbour search, passed through."""

import json

import numpy as np
import pytest

from skdse import diffusion_spectral_entropy, diffusion_spectral_mutual_information
from skdse._params import ENTROPY
from skdse.cli import _estimator, build_parser

from ._tolerances import EXACT_TOL
from .test_cli import skdse

RNG = np.random.default_rng(0)
Y = np.repeat([0, 1], 40)
X = RNG.normal(size=(80, 4)) + 3 * Y[:, None]


@pytest.fixture
def files(tmp_path):
    np.save(tmp_path / "a.npy", X)
    np.save(tmp_path / "y.npy", Y)
    return tmp_path


@pytest.mark.parametrize("command", ["entropy", "mi"])
@pytest.mark.parametrize("choice", ENTROPY.choices("neighbors"))
def test_neighbors_reaches_the_estimator(command, choice):
    extra = ["--labels", "y.npy"] if command == "mi" else []
    parser = build_parser()
    default = parser.parse_args([command, "a.npy", *extra])
    assert default.neighbors == ENTROPY.neighbors
    args = parser.parse_args([command, "a.npy", *extra, "--neighbors", choice])
    assert _estimator(args).get_params()["neighbors"] == choice


def test_neighbors_exact_runs_and_matches_the_library(files):
    out = skdse(
        "entropy", files / "a.npy", "--affinity", "knn", "--neighbors", "exact", "--json"
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    expected = diffusion_spectral_entropy(X, affinity="knn", neighbors="exact", random_state=0)
    # the exact solver in another process: the exact reproducibility tolerance
    assert abs(json.loads(out.stdout)["DSE"] - expected) <= EXACT_TOL
    mi = skdse(
        "mi", files / "a.npy", "--labels", files / "y.npy", "--affinity", "knn",
        "--neighbors", "exact", "--json",
    )  # fmt: skip
    assert mi.returncode == 0, mi.stderr
    ref = diffusion_spectral_mutual_information(
        X, Y, affinity="knn", neighbors="exact", random_state=0
    )
    assert abs(json.loads(mi.stdout)["DSMI"] - ref) <= EXACT_TOL


@pytest.mark.parametrize("command", ["entropy", "mi"])
def test_bad_neighbors_is_an_argparse_error(files, command):
    extra = ["--labels", files / "y.npy"] if command == "mi" else []
    bad = skdse(command, files / "a.npy", *extra, "--neighbors", "bogus")
    assert bad.returncode == 2
    assert "argument --neighbors: invalid choice: 'bogus'" in bad.stderr
