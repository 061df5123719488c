"""``affinity=`` chooses the kernel; ``bandwidth`` is the Gaussian width only.

``bandwidth="knn"`` is the deprecated spelling of ``affinity="knn"``: it gives
the same numbers, with one FutureWarning aimed at the caller's line.
"""

import json
import warnings

import numpy as np
import pytest
from sklearn.decomposition import PCA

from skdse import (
    DiffusionSpectralEntropy,
    DiffusionSpectralMI,
    diffusion_spectral_entropy,
    diffusion_spectral_mutual_information,
)
from skdse.scoring import make_dse_scorer, make_dsmi_scorer

from ._tolerances import EXACT_TOL
from .test_cli import skdse

Y = np.repeat([0, 1, 2], 30)
X = np.random.default_rng(0).normal(size=(90, 4)) + 2 * Y[:, None]
X_OTHER = np.random.default_rng(1).normal(size=(60, 4))
KNN = dict(n_neighbors=8, random_state=0)


def deprecated(call):
    """``call()``'s result, checking that it raised exactly one FutureWarning, aimed here."""
    with pytest.warns(FutureWarning, match="affinity='knn'") as record:
        out = call()
    future = [w for w in record if issubclass(w.category, FutureWarning)]
    assert len(future) == 1, [str(w.message) for w in future]
    assert future[0].filename == __file__
    return out


@pytest.fixture(autouse=True)
def _no_stray_future_warnings():
    """Every call outside ``deprecated`` raises no FutureWarning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        yield


def test_functions_knn_affinity_equals_deprecated_bandwidth():
    h = diffusion_spectral_entropy(X, affinity="knn", **KNN)
    assert h == deprecated(lambda: diffusion_spectral_entropy(X, bandwidth="knn", **KNN))
    assert h != diffusion_spectral_entropy(X, **KNN)  # a different kernel
    mi = diffusion_spectral_mutual_information(X, Y, affinity="knn", n_repeats=2, **KNN)
    old = deprecated(
        lambda: diffusion_spectral_mutual_information(X, Y, bandwidth="knn", n_repeats=2, **KNN)
    )
    assert mi == old


def test_knn_affinity_ignores_bandwidth():
    h = diffusion_spectral_entropy(X, affinity="knn", **KNN)
    assert diffusion_spectral_entropy(X, affinity="knn", bandwidth=0.01, **KNN) == h
    assert diffusion_spectral_entropy(X, affinity="knn", bandwidth="median", **KNN) == h


def test_dse_estimator_fit_and_score():
    new = DiffusionSpectralEntropy(affinity="knn", **KNN).fit(X)
    old = deprecated(lambda: DiffusionSpectralEntropy(bandwidth="knn", **KNN).fit(X))
    assert new.entropy_ == old.entropy_ == diffusion_spectral_entropy(X, affinity="knn", **KNN)
    assert (new.affinity_, new.bandwidth_) == (old.affinity_, old.bandwidth_) == ("knn", None)
    # score reuses the fitted kernel, without warning again
    score = diffusion_spectral_entropy(X_OTHER, affinity="knn", **KNN)
    assert new.score(X_OTHER) == old.score(X_OTHER) == score


def test_dse_estimator_gaussian_attributes():
    est = DiffusionSpectralEntropy(bandwidth="median", random_state=0).fit(X)
    assert est.affinity_ == "gaussian" and isinstance(est.bandwidth_, float)
    assert est.score(X_OTHER) == diffusion_spectral_entropy(X_OTHER, bandwidth=est.bandwidth_)


def test_dsmi_estimator_fit_and_score():
    new = DiffusionSpectralMI(affinity="knn", n_repeats=2, **KNN).fit(X, Y)
    old = deprecated(lambda: DiffusionSpectralMI(bandwidth="knn", n_repeats=2, **KNN).fit(X, Y))
    ref = diffusion_spectral_mutual_information(X, Y, affinity="knn", n_repeats=2, **KNN)
    assert new.mutual_information_ == old.mutual_information_ == ref
    assert (new.affinity_, new.bandwidth_) == (old.affinity_, old.bandwidth_) == ("knn", None)
    y_other = np.repeat([0, 1], 30)
    ref = diffusion_spectral_mutual_information(
        X_OTHER, y_other, affinity="knn", n_repeats=2, **KNN
    )
    assert new.score(X_OTHER, y_other) == old.score(X_OTHER, y_other) == ref
    gauss = DiffusionSpectralMI(n_repeats=2, random_state=0).fit(X, Y)
    assert gauss.affinity_ == "gaussian" and isinstance(gauss.bandwidth_, float)


def test_scorers():
    pca = PCA(3).fit(X)
    Z = pca.transform(X)
    new = make_dse_scorer(affinity="knn", **KNN)
    old = deprecated(lambda: make_dse_scorer(bandwidth="knn", **KNN))
    assert (
        repr(old) == repr(new) == "make_dse_scorer(affinity='knn', n_neighbors=8, random_state=0)"
    )
    assert new(pca, X) == old(pca, X) == diffusion_spectral_entropy(Z, affinity="knn", **KNN)
    new = make_dsmi_scorer(affinity="knn", n_repeats=2, **KNN)
    old = deprecated(lambda: make_dsmi_scorer(bandwidth="knn", n_repeats=2, **KNN))
    ref = diffusion_spectral_mutual_information(Z, Y, affinity="knn", n_repeats=2, **KNN)
    assert new(pca, X, Y) == old(pca, X, Y) == ref


@pytest.mark.parametrize("affinity", ["rbf", "cosine", None, 1.0, "KNN"])
def test_bad_affinity(affinity):
    calls = [
        lambda: diffusion_spectral_entropy(X, affinity=affinity),
        lambda: diffusion_spectral_mutual_information(X, Y, affinity=affinity),
        lambda: DiffusionSpectralEntropy(affinity=affinity).fit(X),
        lambda: DiffusionSpectralMI(affinity=affinity).fit(X, Y),
        lambda: make_dse_scorer(affinity=affinity),
        lambda: make_dsmi_scorer(affinity=affinity),
    ]
    for call in calls:
        with pytest.raises(ValueError, match=r"'affinity' parameter of \w+ must be a str among"):
            call()


def test_bandwidth_is_a_width_only():
    from skdse._params import entropy_params
    from skdse.baselines import BaselineEntropy

    params = entropy_params(bandwidth="knn")  # the settings never hold the old spelling
    assert (params.affinity, params.bandwidth) == ("knn", "scale")
    with pytest.raises(ValueError, match="'bandwidth' parameter of BaselineEntropy"):
        BaselineEntropy("matrix_entry", bandwidth="knn").fit(X)  # no kNN affinity there


def test_cli_affinity_knn(tmp_path):
    np.save(tmp_path / "x.npy", X)
    out = skdse("entropy", tmp_path / "x.npy", "--affinity", "knn", "--json")
    assert out.returncode == 0, out.stderr
    row = json.loads(out.stdout)
    ref = diffusion_spectral_entropy(X, affinity="knn", random_state=0)
    assert row["DSE"] == pytest.approx(ref, abs=EXACT_TOL)
    assert (row["affinity"], row["bandwidth"]) == ("knn", None)
    assert "FutureWarning" not in out.stderr
    old = skdse("entropy", tmp_path / "x.npy", "--bandwidth", "knn", "--json")
    assert old.returncode == 0, old.stderr
    assert json.loads(old.stdout)["DSE"] == row["DSE"]
    assert "FutureWarning" in old.stderr and "affinity='knn'" in old.stderr
    bad = skdse("entropy", tmp_path / "x.npy", "--affinity", "rbf")
    assert bad.returncode == 2 and "--affinity" in bad.stderr
