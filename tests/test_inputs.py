"""Checks of X and y (skdse/_engine/inputs.py): shapes, masked arrays, non-real data."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skdse import (
    DiffusionSpectralEntropy,
    DiffusionSpectralMI,
    diffusion_spectral_entropy,
    diffusion_spectral_mutual_information,
)
from skdse.baselines import BaselineEntropy
from skdse.scoring import make_dse_scorer

from ._data import ALL, X_OK, dsmi_est, dsmi_fn


def _masked(X):
    Xm = np.ma.masked_array(X.copy())
    Xm[0, 0] = np.ma.masked
    return Xm


@pytest.mark.parametrize(
    "call",
    [
        lambda X, y: diffusion_spectral_entropy(_masked(X)),
        lambda X, y: DiffusionSpectralEntropy().fit(_masked(X)),
        lambda X, y: DiffusionSpectralEntropy().fit(X).score(_masked(X)),
        lambda X, y: diffusion_spectral_mutual_information(_masked(X), y),
        lambda X, y: DiffusionSpectralMI().fit(_masked(X), y),
        lambda X, y: BaselineEntropy().fit(_masked(X)),
        lambda X, y: make_dse_scorer()(FunctionTransformer().fit(X), _masked(X)),
        lambda X, y: (
            make_pipeline(FunctionTransformer(), DiffusionSpectralEntropy())
            .fit(X)
            .score(_masked(X))
        ),
    ],
    ids=["dse", "dse-fit", "dse-score", "dsmi", "dsmi-fit", "baseline", "scorer", "pipeline"],
)
def test_masked_X_is_refused(X, call):
    y = np.repeat([0, 1], 75)
    with pytest.raises(ValueError, match=r"X is a numpy masked array with 1 masked"):
        call(X, y)  # the scorer names "the transformed X"


@pytest.mark.parametrize(
    "call",
    [
        lambda X, y: diffusion_spectral_mutual_information(X, y),
        lambda X, y: DiffusionSpectralMI().fit(X, y),
        lambda X, y: DiffusionSpectralMI().fit(X, y.data).score(X, y),
    ],
    ids=["dsmi", "dsmi-fit", "dsmi-score"],
)
def test_masked_y_is_refused(X, call):
    y = np.ma.masked_array(np.repeat([0, 1], 75))
    y[0] = np.ma.masked
    with pytest.raises(ValueError, match=r"y is a numpy masked array with 1 masked"):
        call(X, y)


def test_masked_array_without_masked_entries_is_its_data(X):
    assert diffusion_spectral_entropy(np.ma.masked_array(X)) == diffusion_spectral_entropy(X)


@pytest.mark.parametrize(
    "bad, match",
    [
        ([[1.0, 2.0], [3.0, "a"]], r"X must hold real numbers"),
        ("abc", r"X must hold real numbers"),
        ([[1 + 1j, 2], [3, 4]], r"Complex data not supported for X"),
    ],
    ids=["strings", "a-string", "complex-list"],
)
@pytest.mark.parametrize(
    "call",
    [
        lambda X: diffusion_spectral_entropy(X),
        lambda X: DiffusionSpectralEntropy().fit(X),
        lambda X: DiffusionSpectralMI().fit(X, [0, 1]),
        lambda X: BaselineEntropy().fit(X),
    ],
    ids=["dse", "dse-fit", "dsmi-fit", "baseline-fit"],
)
def test_data_that_is_not_real_names_X(call, bad, match):
    with pytest.raises(ValueError, match=match):
        call(bad)


@pytest.mark.parametrize("y", [["a", "b", "c"] * 10, [["a", "b"]] * 30], ids=["scalar", "vector"])
def test_continuous_y_of_strings_names_y(y):
    X = np.random.default_rng(0).normal(size=(30, 3))
    with pytest.raises(ValueError, match="y must hold real numbers"):
        diffusion_spectral_mutual_information(X, y, y_type="continuous")


def _with(X, i, j, v):
    X = X.copy()
    X[i, j] = v
    return X


@pytest.mark.parametrize("compute", ALL)
@pytest.mark.parametrize(
    "X, exc, match",
    [
        (_with(X_OK, 3, 1, np.nan), ValueError, "NaN"),
        (_with(X_OK, 0, 0, np.inf), ValueError, "infinity"),
        (X_OK[:, 0], ValueError, "Expected 2D array"),
        (X_OK[:, :, None], ValueError, "dim 3"),
        (np.empty((0, 3)), ValueError, "0 sample"),
        (X_OK[:1], ValueError, "1 sample"),
        (np.empty((20, 0)), ValueError, "0 feature"),
        (np.full((20, 3), "a"), ValueError, "numeric|convert"),
        (X_OK + 1j, ValueError, "[Cc]omplex"),
        (sp.csr_matrix(X_OK), TypeError, "toarray"),
    ],
)
def test_bad_X(compute, X, exc, match):
    kwargs = {}
    if compute in (dsmi_fn, dsmi_est) and X.shape[:1] != (20,):
        kwargs["y"] = np.zeros(X.shape[0] if X.ndim else 0, dtype=int)
    with pytest.raises(exc, match=match):
        compute(X, **kwargs)
