"""Wrong input gets a clear exception that names the problem."""

import numpy as np
import pytest
import scipy.sparse as sp

import skdse._engine.resources as engine_resources
from skdse import (
    DiffusionSpectralEntropy,
    DiffusionSpectralMI,
    InsufficientMemoryError,
    diffusion_spectral_entropy,
    diffusion_spectral_mutual_information,
)
from skdse.scoring import make_dse_scorer, make_dsmi_scorer

X_OK = np.random.default_rng(0).normal(size=(20, 3))
Y_OK = np.repeat([0, 1], 10)


def dse_fn(X, **kw):
    return diffusion_spectral_entropy(X, **kw)


def dse_est(X, **kw):
    return DiffusionSpectralEntropy(**kw).fit(X)


def dsmi_fn(X, y=Y_OK, **kw):
    return diffusion_spectral_mutual_information(X, y, **kw)


def dsmi_est(X, y=Y_OK, **kw):
    return DiffusionSpectralMI(**kw).fit(X, y)


ALL = [dse_fn, dse_est, dsmi_fn, dsmi_est]


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


@pytest.mark.parametrize("compute", ALL)
@pytest.mark.parametrize(
    "param, value, exc",
    [
        ("bandwidth", 0.0, ValueError),
        ("bandwidth", -1.0, ValueError),
        ("bandwidth", np.inf, ValueError),
        ("bandwidth", "silverman", ValueError),
        ("bandwidth", [1.0], TypeError),
        ("t", 0, ValueError),
        ("t", -2.0, ValueError),
        ("t", "1", TypeError),
        ("base", 0, ValueError),
        ("base", -2, ValueError),
        ("base", 1, ValueError),
        ("max_samples", 1, ValueError),
        ("max_samples", 2.5, TypeError),
        ("solver", "lanczos", ValueError),
        ("solver", None, ValueError),
    ],
)
def test_bad_parameter_names_the_argument(compute, param, value, exc):
    with pytest.raises(exc, match=param):
        compute(X_OK, **{param: value})


@pytest.mark.parametrize("compute", [dsmi_fn, dsmi_est])
@pytest.mark.parametrize(
    "param, value, exc",
    [("n_repeats", 0, ValueError), ("n_repeats", 1.5, TypeError), ("n_jobs", "all", TypeError)],
)
def test_bad_dsmi_parameter(compute, param, value, exc):
    with pytest.raises(exc, match=param):
        compute(X_OK, **{param: value})


@pytest.mark.parametrize("compute", [dsmi_fn, dsmi_est])
@pytest.mark.parametrize(
    "y, match",
    [
        (np.zeros(19, dtype=int), "inconsistent numbers of samples"),
        (np.r_[np.zeros(19), np.nan], "NaN"),
        (np.array([None] + ["a"] * 19, dtype=object), "missing labels"),
        (np.array([1 + 2j] * 20), "Unknown label type|[Cc]omplex"),
        (None, "requires y|y is required"),
    ],
)
def test_bad_y(compute, y, match):
    with pytest.raises(ValueError, match=match):
        compute(X_OK, y=y)


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


def test_scorer_factories_validate_up_front():
    with pytest.raises(ValueError, match="bandwidth"):
        make_dse_scorer(bandwidth=-1.0)
    with pytest.raises(ValueError, match="n_repeats"):
        make_dsmi_scorer(n_repeats=0)


def test_memory_refused_before_allocating():
    # 200000 x 200000 float64 is 298 GiB: refused at once, nothing allocated.
    X = np.random.default_rng(0).normal(size=(200_000, 1))
    with pytest.raises(InsufficientMemoryError, match="max_samples"):
        diffusion_spectral_entropy(X, max_samples=None, solver="exact")


def test_memory_refusal_uses_available_memory(monkeypatch):
    monkeypatch.setattr(engine_resources, "available_memory_bytes", lambda: 50_000)
    with pytest.raises(InsufficientMemoryError, match=r"max_samples=\d+"):
        diffusion_spectral_entropy(X_OK.repeat(10, axis=0))
    with pytest.raises(InsufficientMemoryError):
        diffusion_spectral_mutual_information(X_OK.repeat(10, axis=0), np.repeat(Y_OK, 10))
    # Small enough still runs.
    assert diffusion_spectral_entropy(X_OK) > 0
