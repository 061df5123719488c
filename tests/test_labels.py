"""y from the user's array library, read one way by the functions, estimators and scorers."""

import warnings

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score

from skdse import DiffusionSpectralMI, diffusion_spectral_mutual_information, partition_reference
from skdse.scoring import dse_scorer, dsmi_scorer, make_dse_scorer, make_dsmi_scorer

RNG = np.random.default_rng(0)
Y_INT = np.repeat(np.arange(3), 30)
X = RNG.normal(size=(90, 4)) + 2.0 * Y_INT[:, None]
Y_FLOAT = X[:, 0] + RNG.normal(scale=0.5, size=90)  # a regression target
Y_VECTOR = X[:, :2] + RNG.normal(scale=0.1, size=(90, 2))  # a reference per sample

# Same process, same arithmetic on the same host labels: only rounding of
# identical operations, so a tight tolerance.
TOL = 1e-12
KW = dict(bandwidth=3.0, n_repeats=2, random_state=0)
Y_CASES = {"int": Y_INT, "float": Y_FLOAT, "vector": Y_VECTOR}


def _torch():
    return pytest.importorskip("torch")


def _cuda_torch():
    torch = _torch()
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    return torch


class _Identity(PCA):
    """A transformer whose embedding is X itself, so scorer == function on X."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.asarray(X, dtype=float)


def _all_paths(y):
    """DSMI of X and y by the function, the estimator (fit and score) and the scorer."""
    est = DiffusionSpectralMI(**KW).fit(X, y)
    return {
        "function": diffusion_spectral_mutual_information(X, y, **KW),
        "fit": est.mutual_information_,
        "score": est.score(X, y),
        "scorer": make_dsmi_scorer(**KW)(_Identity(), X, y),
    }


@pytest.mark.parametrize("kind", list(Y_CASES))
def test_torch_cpu_y_equals_numpy_y(kind):
    torch = _torch()
    y = Y_CASES[kind]
    expected = _all_paths(y)
    got = _all_paths(torch.as_tensor(y))
    for path, value in expected.items():
        assert np.isfinite(value)
        assert abs(got[path] - value) <= TOL, path
    # and the four paths are one path
    assert max(expected.values()) - min(expected.values()) <= TOL


@pytest.mark.parametrize("kind", ["int", "float"])
def test_pandas_list_and_strict_y_equal_numpy_y(kind):
    pd = pytest.importorskip("pandas")
    y = Y_CASES[kind]
    expected = make_dsmi_scorer(**KW)(_Identity(), X, y)
    others = [y.tolist(), pd.Series(y), pd.DataFrame({"y": y})]
    try:
        import array_api_strict as xps

        others.append(xps.asarray(y))
    except ImportError:
        pass
    for other in others:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a one-column DataFrame warns, as in scikit-learn
            got = make_dsmi_scorer(**KW)(_Identity(), X, other)
        assert abs(got - expected) <= TOL, type(other)


def test_torch_y_with_grad_and_bfloat16():
    torch = _torch()
    y = torch.as_tensor(Y_FLOAT, dtype=torch.float32).requires_grad_()
    expected = diffusion_spectral_mutual_information(X, Y_FLOAT.astype(np.float32), **KW)
    assert abs(diffusion_spectral_mutual_information(X, y, **KW) - expected) <= TOL
    labels = torch.as_tensor(Y_INT, dtype=torch.bfloat16)  # small ints are exact in bfloat16
    assert np.array_equal(partition_reference(labels), Y_INT)


@pytest.mark.parametrize("dtype", ["float32", "int64"])
def test_meta_device_y_is_refused_by_name(dtype):
    torch = _torch()
    y = torch.empty(90, dtype=getattr(torch, dtype), device="meta")
    for compute in (
        lambda: diffusion_spectral_mutual_information(X, y, **KW),
        lambda: DiffusionSpectralMI(**KW).fit(X, y),
        lambda: dsmi_scorer(_Identity(), X, y),
    ):
        with pytest.raises(ValueError, match=r"y is a tensor on PyTorch's meta device"):
            compute()


@pytest.mark.gpu
@pytest.mark.parametrize("kind", list(Y_CASES))
def test_cuda_tensor_y_equals_numpy_y(kind):
    torch = _cuda_torch()
    y = Y_CASES[kind]
    expected = _all_paths(y)
    got = _all_paths(torch.as_tensor(y, device="cuda"))
    for path, value in expected.items():
        assert abs(got[path] - value) <= TOL, path


@pytest.mark.parametrize(
    "y, exc, match",
    [
        (3, ValueError, "y must be array-like.*scalar int"),
        (2.5, ValueError, "y must be array-like.*scalar float"),
        ("abc", ValueError, "y must be array-like.*scalar str"),
        ({"a": 1}, TypeError, "y must be array-like.*mapping"),
        (np.zeros((90, 2, 2)), ValueError, "y must be 1-D.*reshape"),
        (np.ma.masked_array(Y_INT, mask=Y_INT == 2), ValueError, "y is a numpy masked array"),
    ],
)
def test_scalar_mapping_and_bad_shapes_are_refused(y, exc, match):
    for compute in (
        lambda: diffusion_spectral_mutual_information(X, y),
        lambda: DiffusionSpectralMI().fit(X, y),
        lambda: dsmi_scorer(_Identity(), X, y),
    ):
        with pytest.raises(exc, match=match):
            compute()


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
