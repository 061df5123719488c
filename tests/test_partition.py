"""The reference partition (skdse/_partition.py): y, its bins and its clusters.

y from the user's array library is read one way by the functions, the
estimators and the scorers.
"""

import warnings

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from sklearn.cluster import KMeans

from skdse import DiffusionSpectralMI, diffusion_spectral_mutual_information, partition_reference
from skdse.baselines import BaselineEntropy
from skdse.datasets import make_branching_tree
from skdse.scoring import dsmi_scorer, make_dsmi_scorer

from ._data import KW, TOL, Y_FLOAT, Y_INT, Y_VECTOR, X, _Identity

Y_CASES = {"int": Y_INT, "float": Y_FLOAT, "vector": Y_VECTOR}


def _torch():
    return pytest.importorskip("torch")


def _cuda_torch():
    torch = _torch()
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    return torch


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


def test_binning_and_partition_near_the_largest_float():
    # min-max binning (classic baseline, continuous y) and the label-type check
    # run without overflow: the suite turns RuntimeWarnings into errors
    X = np.clip(np.random.default_rng(0).normal(size=(40, 3)), -2, 2) * 8e307
    small = X / 8e307
    assert BaselineEntropy().fit(X).entropy_ == BaselineEntropy().fit(small).entropy_
    np.testing.assert_array_equal(partition_reference(X[:, 0]), partition_reference(small[:, 0]))
    kw = dict(random_state=0)
    big_mi = diffusion_spectral_mutual_information(X, X[:, 0], **kw)
    assert big_mi == pytest.approx(diffusion_spectral_mutual_information(small, small[:, 0], **kw))


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
