"""Continuous references, the paper's baselines, and the spectrum cache."""

import math

import joblib
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from sklearn.cluster import KMeans

import skdse
import skdse._engine.solve as engine
from skdse import (
    DiffusionSpectralEntropy,
    DiffusionSpectralMI,
    diffusion_spectral_mutual_information,
    partition_reference,
)
from skdse.baselines import (
    BaselineEntropy,
    BaselineMI,
    adjacency_spectral_entropy,
    adjacency_spectral_mutual_information,
    classic_mutual_information,
    classic_shannon_entropy,
    diffusion_matrix_entry_entropy,
)
from skdse.datasets import make_branching_tree

from ._data import DATASETS

dse_dsmi = pytest.importorskip("dse_dsmi")


# ---- parity with dse-dsmi 1.1 (deterministic parts to 1e-9) -------------------------------


@pytest.mark.parametrize("name", ["uniform_cube", "blobs", "tree", "duplicated"])
def test_classic_entropy_parity(name):
    X = DATASETS[name](300)
    for bins in (2, 3):
        ref = dse_dsmi.diffusion_spectral_entropy(
            X, classic_shannon_entropy=True, num_bins_per_dim=bins
        )
        assert abs(classic_shannon_entropy(X, n_bins_per_dim=bins) - ref) < 1e-9


@pytest.mark.parametrize("name", ["uniform_cube", "blobs", "manifold"])
def test_matrix_entry_entropy_parity(name):
    X = DATASETS[name](200)
    ref = dse_dsmi.diffusion_spectral_entropy(
        X, gaussian_kernel_sigma=10, matrix_entry_entropy=True
    )
    assert abs(diffusion_matrix_entry_entropy(X, bandwidth=10.0) - ref) < 1e-9


@pytest.mark.parametrize("name", ["uniform_cube", "blobs", "manifold", "tree"])
@pytest.mark.parametrize(
    "kind, ref_kw",
    [
        ("gaussian", {}),
        ("normalized", {"anisotropic": True}),
        ("knn", {"use_knn": True, "knn": 10}),
    ],
)
def test_adjacency_entropy_parity(name, kind, ref_kw):
    X = DATASETS[name](200)
    ref = dse_dsmi.adjacency_spectral_entropy(X, gaussian_kernel_sigma=10, **ref_kw)
    ours = adjacency_spectral_entropy(X, kind=kind, bandwidth=10.0, n_neighbors=10)
    assert abs(ours - ref) < 1e-9


def test_dsmi_continuous_scalar_parity():
    X, branch = make_branching_tree(4, 100, 20, step=2.0, random_state=1)
    y = branch + np.random.default_rng(0).uniform(0, 0.9, size=branch.size)  # continuous
    est = DiffusionSpectralMI(bandwidth=10.0, n_repeats=50, solver="exact", random_state=0)
    est.fit(X, y)
    ref_mi, ref_clusters = dse_dsmi.diffusion_spectral_mutual_information(
        X, y, gaussian_kernel_sigma=10, num_repetitions=50, n_clusters=10
    )
    np.testing.assert_array_equal(est.partition_, np.ravel(ref_clusters))
    for label, h in zip(est.groups_, est.group_conditional_entropies_):
        ref = dse_dsmi.diffusion_spectral_entropy(
            X[est.partition_ == label], gaussian_kernel_sigma=10
        )
        assert abs(h - ref) < 1e-9
    assert abs(est.mutual_information_ - ref_mi) < 0.02


def test_dsmi_continuous_vector_parity():
    X, branch = make_branching_tree(3, 80, 10, step=2.0, random_state=2)
    Y = X[:, :6] + np.random.default_rng(0).normal(scale=0.1, size=(240, 6))  # "inputs"
    est = DiffusionSpectralMI(
        bandwidth=10.0, n_repeats=50, n_clusters=4, solver="exact", random_state=0
    ).fit(X, Y)
    ref_mi, ref_clusters = dse_dsmi.diffusion_spectral_mutual_information(
        X, Y, gaussian_kernel_sigma=10, num_repetitions=50, n_clusters=4
    )
    np.testing.assert_array_equal(est.partition_, ref_clusters)
    assert abs(est.mutual_information_ - ref_mi) < 0.02


def test_classic_and_adjacency_mi_parity():
    X, y = make_branching_tree(3, 100, 20, step=2.0, random_state=3)
    ref = dse_dsmi.diffusion_spectral_mutual_information(
        X, y, classic_shannon_entropy=True, num_repetitions=50
    )[0]
    assert abs(classic_mutual_information(X, y, n_repeats=50, random_state=0) - ref) < 0.05
    ref = dse_dsmi.adjacency_spectral_mutual_information(
        X, y, gaussian_kernel_sigma=10, num_repetitions=50
    )[0]
    ours = adjacency_spectral_mutual_information(X, y, bandwidth=10.0, n_repeats=50, random_state=0)
    assert abs(ours - ref) < 0.05


# ---- estimators ------------------------------------------------------------------------------


def test_estimators_and_functions_agree():
    X, y = make_branching_tree(3, 60, 10, random_state=0)
    assert BaselineEntropy("classic").fit(X).entropy_ == classic_shannon_entropy(X)
    est = BaselineEntropy("adjacency", kind="knn").fit(X)
    assert est.entropy_ == adjacency_spectral_entropy(X, kind="knn") and est.bandwidth_ is None
    mi = BaselineMI("classic", random_state=0).fit(X, y)
    assert mi.mutual_information_ == classic_mutual_information(X, y, random_state=0)
    assert est.score(X) == est.entropy_


def test_partition_is_reusable_across_checkpoints():
    X, _ = make_branching_tree(3, 60, 10, random_state=0)
    inputs = X + np.random.default_rng(0).normal(size=X.shape)
    groups = partition_reference(inputs, n_clusters=3, random_state=0)
    est = DiffusionSpectralMI(n_clusters=3, random_state=0).fit(X, inputs)
    np.testing.assert_array_equal(est.partition_, groups)
    reused = diffusion_spectral_mutual_information(X, groups, y_type="discrete", random_state=0)
    assert reused == est.mutual_information_


def test_custom_clusterer():
    X, _ = make_branching_tree(3, 50, 8, random_state=0)
    km = KMeans(3, n_init=2, random_state=0)
    est = DiffusionSpectralMI(clusterer=km, random_state=0).fit(X, X)
    np.testing.assert_array_equal(est.partition_, km.fit_predict(X))


# ---- properties --------------------------------------------------------------------------------


@given(st.integers(2, 60), st.sampled_from([2.0, math.e, 10.0]))
def test_classic_entropy_log_n_when_rows_distinct(n, base):
    X = np.eye(n)  # every row in its own bin
    assert abs(classic_shannon_entropy(X, base=base) - math.log(n) / math.log(base)) < 1e-12
    assert classic_shannon_entropy(np.full((n, 3), 2.5), base=base) == 0.0


@given(
    st.lists(st.floats(-1e3, 1e3), min_size=5, max_size=50),
    st.floats(1e-3, 1e3),
    st.floats(-1e3, 1e3),
    st.integers(2, 12),
)
def test_binning_invariant_to_affine_rescaling(values, a, b, n_bins):
    y = np.asarray(values)
    assume(np.ptp(y) > 1e-6 * (1 + np.abs(y).max()))
    p1 = partition_reference(y, y_type="continuous", n_bins=n_bins)
    p2 = partition_reference(a * y + b, y_type="continuous", n_bins=n_bins)
    # equal up to rounding at a bin edge
    assert np.mean(p1 == p2) >= 1 - 2 / y.size


@given(
    st.integers(0, 2**32 - 1), st.lists(st.floats(0.0, 100.0), min_size=2, max_size=5, unique=True)
)
def test_dsmi_monotone_continuous_equals_discrete(seed, levels):
    levels = np.sort(np.asarray(levels))
    labels = np.random.default_rng(seed).integers(0, len(levels), 60)
    assume(len(np.unique(labels)) == len(levels))
    y_cont = np.exp(levels / 30.0)[labels] + 0.5  # a strictly monotone transform, as floats
    assume(np.any(y_cont != np.round(y_cont)))
    bins = partition_reference(y_cont, y_type="continuous")
    assume(len(np.unique(bins)) == len(levels))  # the binning separates the levels
    X = np.random.default_rng(seed).normal(size=(60, 3))
    a = diffusion_spectral_mutual_information(X, labels, random_state=seed, n_repeats=2)
    b = diffusion_spectral_mutual_information(X, y_cont, random_state=seed, n_repeats=2)
    assert a == b


def test_cache_hits_are_bit_identical_and_skip_the_solver(tmp_path, monkeypatch):
    X = DATASETS["blobs"](300)
    mem = joblib.Memory(str(tmp_path / "m"), verbose=0)
    first = DiffusionSpectralEntropy(memory=mem, t=1).fit(X)

    def boom(*args, **kwargs):
        raise AssertionError("the eigensolver ran on a cache hit")

    monkeypatch.setattr(engine, "exact_eigenvalues", boom)
    again = DiffusionSpectralEntropy(memory=str(tmp_path / "m"), t=1).fit(X)
    assert again.entropy_ == first.entropy_
    np.testing.assert_array_equal(again.eigenvalues_, first.eigenvalues_)
    other_t = DiffusionSpectralEntropy(memory=mem, t=3).fit(X)  # same spectrum, another t
    assert other_t.entropy_ == first.entropy_profile(3)
    with pytest.raises(AssertionError, match="eigensolver"):
        DiffusionSpectralEntropy(memory=mem, bandwidth=3.0).fit(X)  # another kernel: a miss
    monkeypatch.undo()
    y = np.repeat([0, 1, 2], 100)
    a = DiffusionSpectralMI(memory=mem, random_state=0).fit(X, y)
    b = DiffusionSpectralMI(memory=mem, random_state=0).fit(X, y)
    assert a.mutual_information_ == b.mutual_information_
    assert skdse.diffusion_spectral_entropy(X, memory=mem) == first.entropy_


# ---- bad input ---------------------------------------------------------------------------------


X_OK = np.random.default_rng(0).normal(size=(30, 3))


@pytest.mark.parametrize(
    "y, kwargs, exc, match",
    [
        (np.r_[np.linspace(0, 1, 29), np.nan], {}, ValueError, "NaN"),
        (np.r_[np.linspace(0, 1, 29), np.inf], {}, ValueError, "infinity"),
        (np.linspace(0, 1, 30), {"n_bins": 1}, ValueError, "n_bins"),
        (np.linspace(0, 1, 30), {"y_type": "ordinal"}, ValueError, "y_type"),
        (np.ones((30, 4)), {"clusterer": object()}, TypeError, "clusterer"),
        (np.ones((30, 4)), {"n_clusters": 0}, ValueError, "n_clusters"),
        (np.arange(29), {"y_type": "discrete"}, ValueError, "inconsistent numbers of samples"),
        (np.ones((30, 2)), {"y_type": "discrete"}, ValueError, "y_type='discrete'"),
    ],
)
def test_bad_reference(y, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        diffusion_spectral_mutual_information(X_OK, y, **kwargs)
    with pytest.raises(exc, match=match):
        DiffusionSpectralMI(**kwargs).fit(X_OK, y)


def test_clusterer_without_labels():
    class FitOnly:
        def fit(self, X):
            return self

    with pytest.raises(TypeError, match="labels_"):
        partition_reference(np.random.default_rng(0).normal(size=(30, 3)), clusterer=FitOnly())


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
