"""Edge cases of the API found by fuzzing (issue 12, item 8): each fails on the code before it."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skdse import (
    DiffusionSpectralEntropy,
    DiffusionSpectralMI,
    diffusion_spectral_entropy,
    diffusion_spectral_mutual_information,
)
from skdse._engine.solve import krylov_bytes, resolve_solver
from skdse._params import entropy_params
from skdse.baselines import BaselineEntropy
from skdse.scoring import make_dse_scorer

# slq on 150 points with few vectors, so slq (not its exact fallback) runs
SLQ = dict(solver="slq", n_deflate=4, n_probes=8)


@pytest.fixture
def X():
    return np.random.default_rng(0).normal(size=(150, 3))


# --- DSMI of a constant y is exactly 0 ---------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [dict(max_samples=30), dict(max_samples=None, **SLQ), dict(max_samples=30, **SLQ)],
    ids=["subsampled", "slq", "slq-subsampled"],
)
def test_dsmi_of_a_constant_y_is_exactly_zero(X, kwargs):
    # Same process, same rows, same probes: the class term and its marginal
    # subsets are one computation, so the difference is 0 to the bit.
    est = DiffusionSpectralMI(random_state=0, **kwargs).fit(X, np.zeros(150, int))
    assert est.mutual_information_ == 0.0
    assert np.all(est.group_marginal_entropies_ == est.group_conditional_entropies_)
    y = np.full(150, "a")
    assert diffusion_spectral_mutual_information(X, y, random_state=1, **kwargs) == 0.0


@pytest.mark.parametrize(
    "kwargs", [dict(max_samples=30), dict(max_samples=None, **SLQ)], ids=["subsampled", "slq"]
)
def test_dsmi_of_random_labels_stays_near_zero(X, kwargs):
    # random labels carry no information: 3 classes, 8 seeds; the spread of
    # one estimate is about 0.06-0.08 bits here, so the mean of 8 is ~0.03
    mi = [
        diffusion_spectral_mutual_information(
            X, np.random.default_rng(s).integers(0, 3, 150), random_state=s, **kwargs
        )
        for s in range(8)
    ]
    assert abs(np.mean(mi)) < 0.1, mi


def test_dsmi_still_sees_structure_when_subsampled(X):
    y = np.repeat([0, 1, 2], 50)
    mi = diffusion_spectral_mutual_information(
        X + 6 * y[:, None], y, max_samples=30, random_state=0
    )
    assert mi > 0.5


# --- slq on a few points runs the exact solver ---------------------------------


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_slq_on_a_few_points_is_exact(n):
    Xs = np.random.default_rng(n).normal(size=(n, 3))
    exact = diffusion_spectral_entropy(Xs, solver="exact")
    assert diffusion_spectral_entropy(Xs, solver="slq", random_state=0) == exact  # same path
    est = DiffusionSpectralEntropy(solver="slq", random_state=0).fit(Xs)
    assert est.solver_ == "exact"
    assert est.entropy_std_ == 0.0


def test_slq_threshold_is_where_its_vectors_span_the_space():
    # 1 (top eigenvector) + n_deflate + n_probes vectors span R^n up to n = 5
    params = entropy_params(solver="slq", n_deflate=2, n_probes=2)
    assert resolve_solver(5, params) == "exact"
    assert resolve_solver(6, params) == "slq"
    X6 = np.random.default_rng(0).normal(size=(6, 2))
    est = DiffusionSpectralEntropy(solver="slq", n_deflate=2, n_probes=2, random_state=0).fit(X6)
    assert est.solver_ == "slq"


def test_dsmi_small_classes_with_slq_are_exact():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(12, 3))
    y = np.repeat([0, 1, 2, 3], 3)
    slq = DiffusionSpectralMI(solver="slq", random_state=0).fit(X, y)
    exact = DiffusionSpectralMI(solver="exact", random_state=0).fit(X, y)
    assert np.array_equal(slq.group_conditional_entropies_, exact.group_conditional_entropies_)


# --- masked arrays ----------------------------------------------------------


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


# --- entropy_profile and memory= --------------------------------------------


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


def test_memory_pointing_at_a_file_names_memory(X, tmp_path):
    path = tmp_path / "a_file"
    path.write_text("")
    for location in (path, str(path), str(path / "below")):
        with pytest.raises(ValueError, match=r"memory.*a_file"):
            diffusion_spectral_entropy(X, memory=location)
        with pytest.raises(ValueError, match=r"memory.*a_file"):
            DiffusionSpectralEntropy(memory=location).fit(X)


def test_unwritable_memory_folder_names_memory(X, tmp_path, monkeypatch):
    # root may write anywhere, so the permission check itself is faked
    folder = tmp_path / "cache"
    folder.mkdir()
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda p, mode: False if os.fspath(p) == str(folder) else real_access(p, mode)
    )
    with pytest.raises(ValueError, match=r"memory.*not writable"):
        diffusion_spectral_entropy(X, memory=str(folder))


def test_memory_folder_is_created_and_used(X, tmp_path):
    folder = tmp_path / "new" / "cache"
    h = diffusion_spectral_entropy(X, memory=folder)
    assert folder.is_dir() and diffusion_spectral_entropy(X, memory=folder) == h


# --- random_state, base, n_lanczos_steps -------------------------------------


@pytest.mark.parametrize(
    "random_state, error",
    [
        (-1, ValueError),
        (2**32, ValueError),
        (1.5, TypeError),
        (True, TypeError),
        ("0", TypeError),
        (np.random.default_rng(0), TypeError),
    ],
)
@pytest.mark.parametrize(
    "call",
    [
        lambda X, rs: diffusion_spectral_entropy(X, random_state=rs),
        lambda X, rs: diffusion_spectral_mutual_information(
            X, np.repeat([0, 1], 75), random_state=rs
        ),
        lambda X, rs: DiffusionSpectralEntropy(random_state=rs).fit(X),
        lambda X, rs: DiffusionSpectralMI(random_state=rs).fit(X, np.repeat([0, 1], 75)),
    ],
    ids=["dse", "dsmi", "dse-fit", "dsmi-fit"],
)
def test_bad_random_state_names_it(X, call, random_state, error):
    with pytest.raises(
        error,
        match=r"'random_state' parameter of \w+ must be None, an int in the range \[0, 4294967295",
    ):
        call(X, random_state)


def test_generator_random_state_says_what_to_pass(X):
    with pytest.raises(TypeError, match=r"Generator.*integers"):
        diffusion_spectral_entropy(X, random_state=np.random.default_rng(0))


def test_random_state_accepts_the_full_seed_range(X):
    for rs in (0, 2**32 - 1, np.int64(7), np.random.RandomState(0)):
        diffusion_spectral_entropy(X, random_state=rs, max_samples=50)


@pytest.mark.parametrize("base", [0.5, 1.0, 1e-3])
def test_base_at_or_below_one_is_refused(X, base):
    with pytest.raises(
        ValueError, match=r"'base' parameter of \w+ must be a float in the range \(1.0, inf\)"
    ):
        diffusion_spectral_entropy(X, base=base)
    with pytest.raises(
        ValueError, match=r"'base' parameter of \w+ must be a float in the range \(1.0, inf\)"
    ):
        DiffusionSpectralMI(base=base).fit(X, np.repeat([0, 1], 75))


def test_krylov_memory_counts_the_steps_that_run():
    params = entropy_params(n_lanczos_steps=10**6, n_deflate=10**3, n_probes=4)
    # at most n - 1 steps and n - 2 deflated directions run on 50 points
    assert krylov_bytes(50, params) == 8 * 50 * (4 + 48) * 49


def test_many_lanczos_steps_on_few_points_run(X):
    h = diffusion_spectral_entropy(X, n_lanczos_steps=10**8, random_state=0, **SLQ)
    assert 0 < h <= np.log2(150)


# --- data that is not real numbers; a sweep of odd parameter values ------------


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


ODD_VALUES = [None, -1, 0, 1, 2.5, -0.5, np.nan, np.inf, 1e300, 1e-300, 10**9, "abc", "", True,
              [], [1], {"a": 1}, b"x", 1 + 2j, np.int64(3), np.array([1, 2]), object(),
              np.random.default_rng(0)]  # fmt: skip
SWEPT = ["bandwidth", "t", "base", "max_samples", "n_subsamples", "solver", "operator",
         "n_neighbors", "n_lanczos_steps", "n_probes", "n_deflate", "backend", "dtype",
         "verbose", "memory", "random_state"]  # fmt: skip


@pytest.mark.parametrize("name", SWEPT)
def test_odd_parameter_values_give_a_number_or_an_error_naming_them(name, tmp_path, monkeypatch):
    # 23 odd values per parameter: a finite DSE in [0, log2 N], or a ValueError
    # or TypeError that names the parameter; never another exception
    monkeypatch.chdir(tmp_path)  # memory="abc" makes a folder
    X = np.random.default_rng(0).normal(size=(20, 3))
    for value in ODD_VALUES:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", RuntimeWarning)
                warnings.simplefilter("ignore", UserWarning)
                h = diffusion_spectral_entropy(X, **{name: value})
        except (ValueError, TypeError) as exc:
            assert name in str(exc), (value, exc)
        else:
            assert 0.0 <= h <= np.log2(20) + 1e-9, (value, h)
