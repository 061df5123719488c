"""y from the user's array library, read one way by the functions, estimators and scorers."""

import warnings

import numpy as np
import pytest

from skdse import DiffusionSpectralMI, diffusion_spectral_mutual_information, partition_reference
from skdse.baselines import BaselineEntropy
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
