"""Scorers for pipelines whose last step is a transformer."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.preprocessing import StandardScaler

from skdse import (
    DiffusionSpectralMI,
    diffusion_spectral_entropy,
    diffusion_spectral_mutual_information,
)
from skdse.scoring import dse_scorer, dsmi_scorer, make_dse_scorer, make_dsmi_scorer

from ._data import KW, TOL, Y_FLOAT, Y_INT, Y_VECTOR, X, _Identity


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:300], y[:300]


def test_cross_val_score_with_dsmi_scorer(digits):
    X, y = digits
    scores = cross_val_score(PCA(8), X, y, scoring=dsmi_scorer, cv=3)
    assert scores.shape == (3,) and np.all(scores > 0)


def test_scorer_is_the_measure_of_the_embedding(digits):
    X, y = digits
    pca = PCA(5, random_state=0).fit(X)
    Z = pca.transform(X)
    assert dse_scorer(pca, X) == diffusion_spectral_entropy(Z)
    scorer = make_dsmi_scorer(bandwidth=5.0, t=2, n_repeats=3, random_state=0)
    expected = diffusion_spectral_mutual_information(
        Z, y, bandwidth=5.0, t=2, n_repeats=3, random_state=0
    )
    assert scorer(pca, X, y) == expected
    assert "bandwidth=5.0" in repr(scorer)


def test_grid_search_with_scorer(digits):
    X, y = digits
    grid = GridSearchCV(
        PCA(random_state=0),
        {"n_components": [1, 12]},
        scoring=make_dsmi_scorer(random_state=0),
        cv=2,
    ).fit(X, y)
    assert grid.best_params_ == {"n_components": 12}
    scored = cross_val_score(PCA(4), X, scoring=make_dse_scorer(t=3), cv=2)
    assert np.all((scored > 0) & (scored < np.log2(150)))


def test_scorer_needs_a_transformer(digits):
    X, y = digits
    from sklearn.dummy import DummyClassifier

    clf = DummyClassifier().fit(X, y)
    with pytest.raises(TypeError, match="no transform method"):
        dse_scorer(clf, X)
    with pytest.raises(ValueError, match="y"):
        dsmi_scorer(StandardScaler().fit(X), X, None)


def _grid_scores(y):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Scoring failed" was a warning, and NaN scores
        grid = GridSearchCV(
            PCA(random_state=0),
            {"n_components": [1, 3]},
            scoring=make_dsmi_scorer(random_state=0),
            cv=KFold(3, shuffle=True, random_state=0),
        ).fit(X, y)
    return grid.cv_results_["mean_test_score"]


def test_grid_search_over_a_regression_target_scores_finite_numbers():
    scores = _grid_scores(Y_FLOAT)
    assert np.all(np.isfinite(scores))
    # the embedding holds information about the target, and none about noise
    noise = _grid_scores(np.random.default_rng(1).normal(size=90))
    assert np.all(scores > 0.2) and np.all(np.abs(noise) < 0.1)
    # the default scorer too
    assert np.all(np.isfinite(cross_val_score(PCA(2), X, Y_FLOAT, scoring=dsmi_scorer, cv=3)))


@pytest.mark.parametrize(
    "y, options",
    [
        (Y_FLOAT, dict(n_bins=4)),
        (Y_INT.astype(float) + 0.25, dict(y_type="continuous", n_bins=3)),
        (Y_VECTOR, dict(n_clusters=3)),
    ],
)
def test_scorer_options_agree_with_the_estimator(y, options):
    est = DiffusionSpectralMI(**KW, **options).fit(X, y)
    scorer = make_dsmi_scorer(**KW, **options)
    assert abs(scorer(_Identity(), X, y) - est.mutual_information_) <= TOL
    # the option matters: the default reading of y gives another partition
    assert not np.array_equal(est.partition_, DiffusionSpectralMI(**KW).fit(X, y).partition_)


def test_scorer_y_type_discrete_refuses_a_continuous_y_as_the_estimator_does():
    for compute in (
        lambda: DiffusionSpectralMI(**KW, y_type="discrete").fit(X, Y_FLOAT),
        lambda: make_dsmi_scorer(**KW, y_type="discrete")(_Identity(), X, Y_FLOAT),
    ):
        with pytest.raises(ValueError, match="y_type='discrete' needs class labels"):
            compute()
    est = DiffusionSpectralMI(**KW, y_type="discrete").fit(X, Y_INT)
    scorer = make_dsmi_scorer(**KW, y_type="discrete")
    assert abs(scorer(_Identity(), X, Y_INT) - est.mutual_information_) <= TOL


def test_scorer_clusterer_option():
    from sklearn.cluster import KMeans

    km = KMeans(3, n_init=2, random_state=0)
    est = DiffusionSpectralMI(**KW, clusterer=km).fit(X, Y_VECTOR)
    scorer = make_dsmi_scorer(**KW, clusterer=km)
    assert abs(scorer(_Identity(), X, Y_VECTOR) - est.mutual_information_) <= TOL
    assert "clusterer=KMeans" in repr(scorer)


@pytest.mark.parametrize(
    "option, value, exc",
    [
        ("y_type", "labels", ValueError),
        ("n_bins", 1, ValueError),
        ("n_bins", 2.5, TypeError),
        ("n_clusters", 0, ValueError),
        ("clusterer", "kmeans", TypeError),
        ("greater_is_better", "yes", TypeError),
    ],
)
def test_scorer_options_are_validated_up_front(option, value, exc):
    with pytest.raises(exc, match=f"'{option}' parameter of make_dsmi_scorer must be"):
        make_dsmi_scorer(**{option: value})
    if option == "greater_is_better":
        with pytest.raises(exc, match=f"'{option}' parameter of make_dse_scorer must be"):
            make_dse_scorer(**{option: value})


def test_greater_is_better_false_negates():
    pca = PCA(2, random_state=0).fit(X)
    up = make_dsmi_scorer(**KW)(pca, X, Y_INT)
    down = make_dsmi_scorer(**KW, greater_is_better=False)(pca, X, Y_INT)
    assert up > 0.1 and down == -up
    assert dse_scorer(pca, X) > 0
    assert make_dse_scorer(greater_is_better=False)(pca, X) == -dse_scorer(pca, X)
    assert repr(make_dse_scorer(greater_is_better=False)) == (
        "make_dse_scorer(greater_is_better=False)"
    )
    assert "greater_is_better" not in repr(make_dsmi_scorer())
    # a search minimising DSMI picks the embedding that holds least about y:
    # the first principal component is a loud noise column, the second is informative
    X2 = np.c_[np.random.default_rng(2).normal(scale=10, size=90), X[:, 0]]
    results = {}
    for greater in (True, False):
        grid = GridSearchCV(
            PCA(random_state=0),
            {"n_components": [1, 2]},
            scoring=make_dsmi_scorer(random_state=0, greater_is_better=greater),
            cv=KFold(3, shuffle=True, random_state=0),
        ).fit(X2, Y_INT)
        results[greater] = grid.cv_results_["mean_test_score"], grid.best_params_
    assert np.array_equal(results[False][0], -results[True][0])
    assert results[True][1] == {"n_components": 2} and results[False][1] == {"n_components": 1}


def test_scorer_repr_shows_only_changed_defaults():
    assert repr(dsmi_scorer) == "make_dsmi_scorer()"
    assert repr(dse_scorer) == "make_dse_scorer()"
    r = repr(make_dsmi_scorer(n_repeats=3, n_bins=4, y_type="continuous", n_jobs=2))
    assert r == "make_dsmi_scorer(n_repeats=3, y_type='continuous', n_bins=4, n_jobs=2)"


X_NORMAL = np.random.default_rng(0).normal(size=(60, 4))

Y = np.repeat([0, 1, 2], 20)


def _masked():
    Xm = np.ma.masked_array(X_NORMAL.copy(), mask=np.zeros(X_NORMAL.shape, dtype=bool))
    Xm[3, 1] = 1e6  # the value behind the mask must not reach the transformer
    Xm.mask[3, 1] = True
    return Xm


@pytest.mark.parametrize(
    "scorer", [dse_scorer, dsmi_scorer, make_dsmi_scorer(random_state=0)], ids=repr
)
def test_scorers_refuse_masked_X(scorer):
    # every other entry point refuses masked entries; the scorers passed X to
    # the transformer, which used the masked value.
    pca = PCA(2).fit(X_NORMAL)
    with pytest.raises(ValueError, match="X is a numpy masked array with 1 masked"):
        scorer(pca, _masked(), Y)
    # a mask with nothing masked is plain data
    unmasked = np.ma.masked_array(X_NORMAL)
    assert dse_scorer(pca, unmasked, Y) == dse_scorer(pca, X_NORMAL, Y)


def test_scorer_factories_validate_up_front():
    with pytest.raises(ValueError, match="bandwidth"):
        make_dse_scorer(bandwidth=-1.0)
    with pytest.raises(ValueError, match="n_repeats"):
        make_dsmi_scorer(n_repeats=0)
