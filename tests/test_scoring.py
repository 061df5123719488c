"""Scorers for pipelines whose last step is a transformer."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.preprocessing import StandardScaler

from skdse import diffusion_spectral_entropy, diffusion_spectral_mutual_information
from skdse.scoring import dse_scorer, dsmi_scorer, make_dse_scorer, make_dsmi_scorer


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
