"""scikit-learn API: pipelines, model selection, fitted state."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline

from skdse import (
    DiffusionSpectralEntropy,
    DiffusionSpectralMI,
    diffusion_spectral_entropy,
    diffusion_spectral_mutual_information,
)

from ._data import X_OK


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:400], y[:400]


def test_dse_fit_attributes_and_score(digits):
    X, _ = digits
    est = DiffusionSpectralEntropy(t=2).fit(X)
    assert isinstance(est.entropy_, float) and isinstance(est.bandwidth_, float)
    assert est.eigenvalues_.shape == (400,)
    assert np.all(np.diff(est.eigenvalues_) <= 0), "eigenvalues sorted descending"
    assert abs(est.eigenvalues_[0] - 1.0) < 1e-10
    assert est.n_features_in_ == 64 and est.n_samples_used_ == 400
    assert est.entropy_ == diffusion_spectral_entropy(X, t=2)
    # score reuses the fitted bandwidth instead of resolving a new one on the new data
    X_half = X[:200] * 2.0
    assert est.score(X_half) == diffusion_spectral_entropy(X_half, bandwidth=est.bandwidth_, t=2)
    assert est.score(X_half) != diffusion_spectral_entropy(X_half, t=2)


def test_entropy_profile_matches_refits(digits):
    X, _ = digits
    est = DiffusionSpectralEntropy().fit(X)
    ts = [0.5, 1, 2, 3.5]
    profile = est.entropy_profile(ts)
    for t, h in zip(ts, profile):
        assert abs(h - DiffusionSpectralEntropy(t=t).fit(X).entropy_) < 1e-12
    assert isinstance(est.entropy_profile(2), float)
    with pytest.raises(ValueError, match="'t' parameter of entropy_profile must be"):
        est.entropy_profile([1, 0])


def test_dsmi_fit_attributes(digits):
    X, y = digits
    est = DiffusionSpectralMI(random_state=0).fit(X, y)
    assert est.groups_.tolist() == list(range(10))
    assert est.group_sizes_.sum() == 400
    p = est.group_sizes_ / 400
    assert abs(est.entropy_ - p @ est.group_marginal_entropies_) < 1e-12
    assert abs(est.conditional_entropy_ - p @ est.group_conditional_entropies_) < 1e-12
    assert abs(est.mutual_information_ - (est.entropy_ - est.conditional_entropy_)) < 1e-12
    assert np.all(est.group_marginal_stds_ >= 0)
    assert est.mutual_information_ == diffusion_spectral_mutual_information(X, y, random_state=0)
    shuffled = np.random.default_rng(0).permutation(y)
    assert est.score(X, shuffled) < 0.25 * est.mutual_information_


def test_string_and_boolean_labels():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 80)
    X = rng.normal(size=(80, 3)) + 4 * y[:, None]
    as_int = diffusion_spectral_mutual_information(X, y, random_state=0)
    as_str = diffusion_spectral_mutual_information(X, np.where(y, "yes", "no"), random_state=0)
    as_bool = diffusion_spectral_mutual_information(X, y.astype(bool), random_state=0)
    assert as_int == as_str == as_bool


def test_pickle_and_clone_keep_numpy_state(digits):
    X, y = digits
    est = DiffusionSpectralMI(random_state=0).fit(X, y)
    again = pickle.loads(pickle.dumps(est))
    assert again.score(X, y) == est.score(X, y)
    assert clone(est).get_params() == est.get_params()
    dse = pickle.loads(pickle.dumps(DiffusionSpectralEntropy().fit(X)))
    assert type(dse.eigenvalues_) is np.ndarray


def test_grid_search_picks_components_by_held_out_dsmi(digits):
    X, y = digits
    pipe = make_pipeline(PCA(random_state=0), DiffusionSpectralMI(random_state=0))
    grid = GridSearchCV(pipe, {"pca__n_components": [1, 10]}, cv=2).fit(X, y)
    scores = grid.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores))
    # One component cannot separate ten digits as well as ten can.
    assert grid.best_params_ == {"pca__n_components": 10}


def test_grid_search_over_dse_without_y(digits):
    X, _ = digits
    pipe = make_pipeline(PCA(random_state=0), DiffusionSpectralEntropy())
    grid = GridSearchCV(pipe, {"pca__n_components": [2, 20]}, cv=2).fit(X)
    assert set(grid.best_params_) == {"pca__n_components"}
    assert np.all(np.isfinite(grid.cv_results_["mean_test_score"]))


def test_cross_val_score_of_estimator_directly(digits):
    X, y = digits
    scores = cross_val_score(DiffusionSpectralMI(random_state=0), X, y, cv=3)
    assert scores.shape == (3,) and np.all(scores > 0)


def test_max_samples_subsamples_with_seed(digits):
    X, _ = digits
    a = DiffusionSpectralEntropy(max_samples=100, random_state=0).fit(X)
    b = DiffusionSpectralEntropy(max_samples=100, random_state=0).fit(X)
    c = DiffusionSpectralEntropy(max_samples=100, random_state=1).fit(X)
    assert a.n_samples_used_ == 100 and a.eigenvalues_.shape == (100,)
    assert a.entropy_ == b.entropy_ != c.entropy_
    # The bandwidth is resolved on all the data, not on the subsample.
    assert a.bandwidth_ == DiffusionSpectralEntropy().fit(X).bandwidth_


def test_dsmi_max_samples_caps_each_term(digits):
    X, y = digits
    capped = DiffusionSpectralMI(max_samples=20, n_repeats=2, random_state=0).fit(X, y)
    assert capped.group_sizes_.sum() == 400  # weights use the full class sizes
    full = DiffusionSpectralMI(max_samples=None, n_repeats=2, random_state=0).fit(X, y)
    # Each capped term is the DSE of 20 points, bounded by log2(20).
    assert np.all(capped.group_conditional_entropies_ <= np.log2(20) + 1e-12)
    assert not np.allclose(capped.group_conditional_entropies_, full.group_conditional_entropies_)
    # A cap above every class size changes nothing.
    loose = DiffusionSpectralMI(max_samples=400, n_repeats=2, random_state=0).fit(X, y)
    assert loose.mutual_information_ == full.mutual_information_


def test_subsample_ensemble_mean_and_spread(digits):
    X, _ = digits
    kw = dict(max_samples=100, random_state=0)
    ens = DiffusionSpectralEntropy(n_subsamples=5, **kw).fit(X)
    assert ens.eigenvalues_ is None and ens.n_samples_used_ == 100
    assert ens.entropy_std_ > 0
    assert ens.entropy_profile(1) == ens.entropy_
    # below max_samples there is nothing to resample: one exact spectrum
    whole = DiffusionSpectralEntropy(n_subsamples=5, max_samples=1000).fit(X)
    assert whole.entropy_std_ == 0.0 and whole.eigenvalues_ is not None


def test_dsmi_reports_the_solver_and_rows_its_terms_used():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], [40, 200])
    X = rng.normal(size=(240, 3)) + 3 * y[:, None]
    kw = dict(n_repeats=2, random_state=0)
    est = DiffusionSpectralMI(solver="slq", max_samples=150, **kw).fit(X, y)
    # 40 rows: slq's probes would span them, so that class runs exactly; 150 rows: slq
    assert est.solver_ == "exact+slq"
    assert est.n_samples_used_ == 40 + 150
    whole = DiffusionSpectralMI(**kw).fit(X, y)
    assert whole.solver_ == "exact" and whole.n_samples_used_ == 240


@pytest.mark.parametrize(
    "t, error",
    [
        ([], ValueError),
        ("abc", TypeError),
        ("2", TypeError),
        (None, TypeError),
        ([1, "a"], TypeError),
        ([True], TypeError),
        ([1.0, -1.0], ValueError),
        (np.nan, ValueError),
        ([1 + 2j], TypeError),
    ],
)
def test_entropy_profile_names_t(X, t, error):
    est = DiffusionSpectralEntropy().fit(X)
    with pytest.raises(error, match=r"\bt\b"):
        est.entropy_profile(t)


def test_entropy_profile_keeps_the_shape_of_t(X):
    est = DiffusionSpectralEntropy().fit(X)
    assert est.entropy_profile(np.array([[1, 2], [3, 4]])).shape == (2, 2)
    assert est.entropy_profile(np.int64(1)) == est.entropy_


def test_score_checks_n_features():
    est = DiffusionSpectralEntropy().fit(X_OK)
    with pytest.raises(ValueError, match="features"):
        est.score(X_OK[:, :2])
    with pytest.raises(ValueError, match="'t' parameter of DiffusionSpectralEntropy must be"):
        DiffusionSpectralEntropy(t=-1).fit(X_OK)


def test_unfitted_estimator_refuses_to_score():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        DiffusionSpectralEntropy().score(X_OK)
    with pytest.raises(NotFittedError):
        DiffusionSpectralEntropy().entropy_profile([1, 2])
