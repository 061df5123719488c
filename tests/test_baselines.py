"""The paper's baselines (skdse/_baselines.py, skdse/_baseline_estimators.py)."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import skdse
from skdse.baselines import (
    BaselineEntropy,
    BaselineMI,
    adjacency_spectral_entropy,
    classic_mutual_information,
    classic_shannon_entropy,
    diffusion_matrix_entry_entropy,
    matrix_entry_mutual_information,
)
from skdse.datasets import make_branching_tree


def test_baselines_at_extreme_magnitudes_and_bandwidths():
    X = np.random.default_rng(0).normal(size=(30, 3))
    for kind in ("gaussian", "normalized"):
        ref = adjacency_spectral_entropy(X, kind=kind)
        assert adjacency_spectral_entropy(1e230 * X, kind=kind) == pytest.approx(ref, abs=1e-9)
        assert adjacency_spectral_entropy(1e-230 * X, kind=kind) == pytest.approx(ref, abs=1e-9)
    ref = diffusion_matrix_entry_entropy(X)
    assert diffusion_matrix_entry_entropy(1e230 * X) == pytest.approx(ref, abs=1e-9)
    # vanishing bandwidth: P is the identity, N entries of 1/N
    assert diffusion_matrix_entry_entropy(X, bandwidth=1e-200) == pytest.approx(math.log2(30))
    assert adjacency_spectral_entropy(X, bandwidth=1e-200) == pytest.approx(math.log2(30))


X = np.random.default_rng(0).normal(size=(60, 4))

Y = np.repeat([0, 1, 2], 20)


def test_matrix_entry_baseline_on_array_api_strict():
    # the row normalisation used the .sum method, which the standard lacks
    xps = pytest.importorskip("array_api_strict")
    ref = diffusion_matrix_entry_entropy(X)
    assert diffusion_matrix_entry_entropy(xps.asarray(X)) == pytest.approx(ref, rel=1e-12)
    mi = matrix_entry_mutual_information(X, Y, random_state=0)
    assert matrix_entry_mutual_information(
        xps.asarray(X), xps.asarray(Y), random_state=0
    ) == pytest.approx(mi, abs=1e-12)


def test_estimators_and_functions_agree():
    X, y = make_branching_tree(3, 60, 10, random_state=0)
    assert BaselineEntropy("classic").fit(X).entropy_ == classic_shannon_entropy(X)
    est = BaselineEntropy("adjacency", kind="knn").fit(X)
    assert est.entropy_ == adjacency_spectral_entropy(X, kind="knn") and est.bandwidth_ is None
    mi = BaselineMI("classic", random_state=0).fit(X, y)
    assert mi.mutual_information_ == classic_mutual_information(X, y, random_state=0)
    assert est.score(X) == est.entropy_


@given(st.integers(2, 60), st.sampled_from([2.0, math.e, 10.0]))
def test_classic_entropy_log_n_when_rows_distinct(n, base):
    X = np.eye(n)  # every row in its own bin
    assert abs(classic_shannon_entropy(X, base=base) - math.log(n) / math.log(base)) < 1e-12
    assert classic_shannon_entropy(np.full((n, 3), 2.5), base=base) == 0.0


X_OK = np.random.default_rng(0).normal(size=(30, 3))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: BaselineEntropy("spectral").fit(X_OK), "measure"),
        (lambda: adjacency_spectral_entropy(X_OK, kind="laplacian"), "kind"),
        (lambda: classic_shannon_entropy(X_OK, n_bins_per_dim=0), "n_bins_per_dim"),
        (lambda: adjacency_spectral_entropy(X_OK, bandwidth="knn"), "knn"),
        (lambda: classic_shannon_entropy(X_OK, base=1), "base"),
        (lambda: skdse.diffusion_spectral_entropy(X_OK, memory=3), "memory"),
        (lambda: classic_mutual_information(X_OK, np.arange(29)), "inconsistent"),
    ],
)
def test_bad_baseline_parameters(call, match):
    with pytest.raises(ValueError, match=match):
        call()
