"""``flatten=True``: activations of any rank (N, ...) taken as (N, -1) by the functions.

The functions reshape where X lives (NumPy, PyTorch, dask, lists); the
estimators keep scikit-learn's 2-D rule and say how to flatten; the command
line has ``--flatten``.
"""

import json
from functools import partial

import numpy as np
import pytest

import skdse
from skdse import baselines
from skdse._engine.inputs import flatten_samples
from skdse.cli import main

from ._tolerances import EXACT_TOL

RNG = np.random.default_rng(0)
Y = np.repeat([0, 1, 2], 20)
# a convolutional layer's output: (N, channels, height, width), classes apart
X4 = RNG.normal(size=(60, 2, 3, 4)) + 2.0 * Y[:, None, None, None]
X2 = X4.reshape(len(X4), -1)

ENTROPIES = {
    "diffusion_spectral_entropy": skdse.diffusion_spectral_entropy,
    "classic_shannon_entropy": baselines.classic_shannon_entropy,
    "diffusion_matrix_entry_entropy": baselines.diffusion_matrix_entry_entropy,
    "adjacency_spectral_entropy": baselines.adjacency_spectral_entropy,
    "effective_rank": baselines.effective_rank,
    "vendi_score": baselines.vendi_score,
}
MIS = {
    "diffusion_spectral_mutual_information": skdse.diffusion_spectral_mutual_information,
    "classic_mutual_information": baselines.classic_mutual_information,
    "adjacency_spectral_mutual_information": baselines.adjacency_spectral_mutual_information,
    "matrix_entry_mutual_information": baselines.matrix_entry_mutual_information,
}
FUNCTIONS = {
    **ENTROPIES,
    **{name: partial(f, y=Y, random_state=0) for name, f in MIS.items()},
}

FLATTEN_ADVICE = r"dim 4 .*reshape\(len\(X\), -1\), or pass flatten=True"


@pytest.mark.parametrize("call", FUNCTIONS.values(), ids=FUNCTIONS.keys())
def test_functions_flatten_n_d_activations(call):
    # the same arithmetic on the same numbers: the same result
    assert call(X4, flatten=True) == call(X2)
    # flatten=True leaves a 2-D X alone
    assert call(X2, flatten=True) == call(X2)
    # off by default: an N-D X is refused, saying how to flatten it
    with pytest.raises(ValueError, match=FLATTEN_ADVICE):
        call(X4)


@pytest.mark.parametrize("call", FUNCTIONS.values(), ids=FUNCTIONS.keys())
def test_a_1d_X_stays_an_error(call):
    with pytest.raises(ValueError, match="Expected 2D array"):
        call(X2[:, 0], flatten=True)


def test_rank_3_and_lists_flatten_in_c_order():
    X3 = X4.reshape(60, 6, 4)
    h = skdse.diffusion_spectral_entropy(X2)
    assert skdse.diffusion_spectral_entropy(X3, flatten=True) == h
    assert skdse.diffusion_spectral_entropy(X4.tolist(), flatten=True) == h
    # C order, as torch.flatten(X, 1): a sample's values stay in its row
    flat = flatten_samples(np.arange(24).reshape(2, 3, 4))
    assert flat.tolist() == [list(range(12)), list(range(12, 24))]
    # (N, 0, k) has no features: refused as any empty X
    with pytest.raises(ValueError, match="0 feature"):
        skdse.diffusion_spectral_entropy(np.ones((5, 0, 3)), flatten=True)


def test_torch_tensor_is_flattened_where_it_lives():
    torch = pytest.importorskip("torch")
    T = torch.as_tensor(X4)
    flat = flatten_samples(T)
    assert isinstance(flat, torch.Tensor) and tuple(flat.shape) == (60, 24)
    assert torch.equal(flat, T.flatten(1))
    h = skdse.diffusion_spectral_entropy(T, flatten=True)
    assert h == skdse.diffusion_spectral_entropy(T.flatten(1))
    # torch's eigensolver against SciPy's: the reproducibility tolerance
    assert abs(h - skdse.diffusion_spectral_entropy(X2)) <= EXACT_TOL
    with pytest.raises(ValueError, match=FLATTEN_ADVICE):
        skdse.diffusion_spectral_entropy(T)


def test_dask_array_is_flattened_lazily():
    da = pytest.importorskip("dask.array")
    D = da.from_array(X4, chunks=(20, 2, 3, 4))
    flat = flatten_samples(D)
    assert isinstance(flat, da.Array) and flat.shape == (60, 24)
    assert flat.chunks[0] == (20, 20, 20)  # the row chunks are kept
    np.testing.assert_array_equal(flat.compute(), X2)
    # computed through the cluster path: the reproducibility tolerance
    h = skdse.diffusion_spectral_entropy(D, flatten=True)
    assert abs(h - skdse.diffusion_spectral_entropy(X2)) <= EXACT_TOL
    unknown = D[da.from_array(np.ones(60, dtype=bool), chunks=20)]
    with pytest.raises(ValueError, match="compute_chunk_sizes"):
        skdse.diffusion_spectral_entropy(unknown, flatten=True)


ESTIMATORS = [
    skdse.DiffusionSpectralEntropy(),
    skdse.DiffusionSpectralMI(random_state=0),
    baselines.BaselineEntropy(),
    baselines.BaselineMI(random_state=0),
    baselines.EffectiveRank(),
    baselines.VendiScore(),
]


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_estimators_keep_the_2d_rule_and_say_how_to_flatten(estimator):
    assert "flatten" not in estimator.get_params()
    fitted = estimator.fit(X2, Y)
    with pytest.raises(ValueError, match=FLATTEN_ADVICE):
        estimator.fit(X4, Y)
    with pytest.raises(ValueError, match=FLATTEN_ADVICE):
        fitted.score(X4, Y)


def test_estimator_on_an_n_d_torch_tensor_says_how_to_flatten():
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match=FLATTEN_ADVICE):
        skdse.DiffusionSpectralEntropy().fit(torch.as_tensor(X4))


def test_cli_flatten(tmp_path, capsys):
    np.save(tmp_path / "conv.npy", X4)
    np.save(tmp_path / "flat.npy", X2)
    np.save(tmp_path / "y.npy", Y)
    rows = {}
    for name, extra in (("conv", ["--flatten"]), ("flat", [])):
        for command in ("entropy", "mi"):
            labels = ["--labels", str(tmp_path / "y.npy")] if command == "mi" else []
            assert main([command, str(tmp_path / f"{name}.npy"), "--json", *labels, *extra]) == 0
            rows[name, command] = json.loads(capsys.readouterr().out)
    for command, key in (("entropy", "DSE"), ("mi", "DSMI")):
        assert rows["conv", command][key] == rows["flat", command][key]
        assert rows["conv", command]["n_features"] == 24
    # without --flatten: one line that names the file and the option
    assert main(["entropy", str(tmp_path / "conv.npy")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "conv.npy" in err[0] and "--flatten" in err[0]
