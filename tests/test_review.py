"""Regressions found reviewing the merged issue-12 branches: their seams."""

import numpy as np
import pytest
from sklearn.decomposition import PCA

from skdse import (
    DiffusionSpectralEntropy,
    DiffusionSpectralMI,
    diffusion_spectral_entropy,
    diffusion_spectral_mutual_information,
)
from skdse.baselines import diffusion_matrix_entry_entropy, matrix_entry_mutual_information
from skdse.scoring import dse_scorer, dsmi_scorer, make_dsmi_scorer

from ._tolerances import F32_TOL

X = np.random.default_rng(0).normal(size=(60, 4))
Y = np.repeat([0, 1, 2], 20)


@pytest.mark.parametrize("scale", [1e-300, 1e-42, 1e300])
def test_float32_operator_keeps_float64_data_beyond_float32_range(scale):
    # dtype="float32" is the operator's precision: the data were cast to
    # float32 first, so 1e-300 * X became all zeros (DSE 0, silently) and
    # 1e300 * X was refused as too large for float32.
    ref = diffusion_spectral_entropy(X, solver="exact")
    Xc = scale * X
    assert diffusion_spectral_entropy(Xc, solver="exact", dtype="float32") == pytest.approx(
        ref, abs=F32_TOL
    )
    est = DiffusionSpectralEntropy(solver="exact", dtype="float32").fit(Xc)
    assert est.entropy_ == pytest.approx(ref, abs=F32_TOL)
    assert est.score(Xc) == est.entropy_  # same process, same path
    mi = diffusion_spectral_mutual_information(Xc, Y, solver="exact", random_state=0)
    mi32 = DiffusionSpectralMI(solver="exact", dtype="float32", random_state=0).fit(Xc, Y)
    assert mi32.mutual_information_ == pytest.approx(mi, abs=10 * F32_TOL)


def test_float32_operator_on_torch_keeps_small_values():
    torch = pytest.importorskip("torch")
    ref = diffusion_spectral_entropy(X, solver="exact")
    h = diffusion_spectral_entropy(torch.asarray(1e-300 * X), solver="exact", dtype="float32")
    assert h == pytest.approx(ref, abs=F32_TOL)


def _masked():
    Xm = np.ma.masked_array(X.copy(), mask=np.zeros(X.shape, dtype=bool))
    Xm[3, 1] = 1e6  # the value behind the mask must not reach the transformer
    Xm.mask[3, 1] = True
    return Xm


@pytest.mark.parametrize(
    "scorer", [dse_scorer, dsmi_scorer, make_dsmi_scorer(random_state=0)], ids=repr
)
def test_scorers_refuse_masked_X(scorer):
    # every other entry point refuses masked entries; the scorers passed X to
    # the transformer, which used the masked value.
    pca = PCA(2).fit(X)
    with pytest.raises(ValueError, match="X is a numpy masked array with 1 masked"):
        scorer(pca, _masked(), Y)
    # a mask with nothing masked is plain data
    unmasked = np.ma.masked_array(X)
    assert dse_scorer(pca, unmasked, Y) == dse_scorer(pca, X, Y)


def test_matrix_entry_baseline_on_array_api_strict():
    # the row normalisation used the .sum method, which the standard lacks
    xps = pytest.importorskip("array_api_strict")
    ref = diffusion_matrix_entry_entropy(X)
    assert diffusion_matrix_entry_entropy(xps.asarray(X)) == pytest.approx(ref, rel=1e-12)
    mi = matrix_entry_mutual_information(X, Y, random_state=0)
    assert matrix_entry_mutual_information(
        xps.asarray(X), xps.asarray(Y), random_state=0
    ) == pytest.approx(mi, abs=1e-12)


def test_entropy_of_one_distinct_point_is_positive_zero():
    # -0.0 came out of the exact spectrum's entropy (printed "-0" by the CLI),
    # while the baselines already return +0.0
    Z = np.ones((5, 2))
    values = [
        diffusion_spectral_entropy(Z),
        diffusion_spectral_entropy(Z, solver="slq"),
        *DiffusionSpectralEntropy().fit(Z).entropy_profile([1.0, 2.0]),
    ]
    assert all(v == 0.0 and np.copysign(1.0, v) == 1.0 for v in values), values


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


def test_float32_operator_keeps_small_values_of_a_dask_array():
    # the Dask path cast the chunks to float32 too: 1e-300 * X became zeros
    da = pytest.importorskip("dask.array")
    ref = diffusion_spectral_entropy(X, solver="exact")
    Xd = da.from_array(1e-300 * X, chunks=(20, 4))
    h = diffusion_spectral_entropy(Xd, solver="exact", dtype="float32")
    assert h == pytest.approx(ref, abs=F32_TOL)


@pytest.mark.parametrize("n_repeats", [3, 5])
@pytest.mark.parametrize("solver", ["exact", "slq"])
def test_dsmi_of_constant_y_is_exactly_zero_without_subsampling(solver, n_repeats):
    # the whole-X class term was compared with the mean of n_repeats copies
    # of itself, which rounds: 4.4e-16 instead of 0 (n = 32, seed 5)
    Xn = np.random.default_rng(5).normal(size=(32, 3))
    for seed in range(5):
        mi = diffusion_spectral_mutual_information(
            Xn,
            np.zeros(32),
            max_samples=None,
            solver=solver,
            n_repeats=n_repeats,
            random_state=seed,
        )
        assert mi == 0.0


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
