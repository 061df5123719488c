"""The parameter table (skdse/_params.py): one default and one constraint per parameter."""

import ast
import inspect
import pathlib
import warnings

import numpy as np
import pytest
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import check_param_validation

import skdse
from skdse import (
    DiffusionSpectralEntropy,
    DiffusionSpectralMI,
    baselines,
    diffusion_spectral_entropy,
    diffusion_spectral_mutual_information,
    scoring,
)
from skdse._params import (
    BASELINE,
    DATA_ARGUMENTS,
    ENTROPY,
    PARTITION,
    RANK,
    SCORING,
    Choices,
    Number,
    entropy_params,
)
from skdse.cli import build_parser

from ._data import ALL, X_OK, dsmi_est, dsmi_fn

TABLES = {
    "ENTROPY": ENTROPY,
    "PARTITION": PARTITION,
    "BASELINE": BASELINE,
    "RANK": RANK,
    "SCORING": SCORING,
}


def _public_callables():
    """Every public function, estimator and scorer factory that takes parameters."""
    found = {}
    for module, names in (
        (skdse, skdse.__all__),
        (baselines, baselines.__all__),
        (scoring, scoring.__all__),
    ):
        for name in names:
            obj = getattr(module, name)
            if inspect.isclass(obj) and issubclass(obj, Exception):
                continue
            if inspect.isfunction(obj) or inspect.isclass(obj):
                found[f"{module.__name__}.{name}"] = obj
    return found


PUBLIC = _public_callables()


def _signature(obj):
    sig = inspect.signature(obj.__init__ if inspect.isclass(obj) else obj)
    return {k: p for k, p in sig.parameters.items() if k not in DATA_ARGUMENTS}


def _constraints(obj) -> dict:
    """What the entry point validates with: the estimator's or the decorator's constraints."""
    if inspect.isclass(obj):
        return obj._parameter_constraints
    return obj._skl_parameter_constraints  # set by scikit-learn's validate_params


def test_every_public_entry_point_is_found():
    names = {n.rsplit(".", 1)[1] for n in PUBLIC}
    assert {
        "diffusion_spectral_entropy",
        "diffusion_spectral_mutual_information",
        "partition_reference",
        "DiffusionSpectralEntropy",
        "DiffusionSpectralMI",
        "make_dse_scorer",
        "make_dsmi_scorer",
        "BaselineEntropy",
        "BaselineMI",
        "classic_shannon_entropy",
        "classic_mutual_information",
    } <= names


@pytest.mark.parametrize("obj", PUBLIC.values(), ids=PUBLIC.keys())
def test_every_parameter_has_its_default_and_constraints_from_one_table_entry(obj):
    params = _signature(obj)
    constraints = _constraints(obj)
    assert set(constraints) == set(params), "every public parameter is validated"
    for name, p in params.items():
        sources = [
            table_name
            for table_name, table in TABLES.items()
            if name in table
            and len(table[name].constraints) == len(constraints[name])
            and all(a is b for a, b in zip(table[name].constraints, constraints[name]))
        ]
        assert sources, f"{name}: its constraints are not a table's"
        default = TABLES[sources[0]][name].default
        assert p.default == default and type(p.default) is type(default), (name, p.default)


def test_every_table_entry_is_a_public_parameter():
    used = {name for obj in PUBLIC.values() for name in _signature(obj)}
    declared = {name for table in TABLES.values() for name in table}
    assert declared == used


ESTIMATORS = [
    skdse.DiffusionSpectralEntropy(),
    skdse.DiffusionSpectralMI(random_state=0),
    baselines.BaselineEntropy(),
    baselines.BaselineMI(random_state=0),
    baselines.EffectiveRank(),
    baselines.VendiScore(),
]


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_estimator_constraints_cover_get_params_and_are_enforced(estimator):
    # scikit-learn's own check: _parameter_constraints has exactly the get_params
    # keys, and fit raises InvalidParameterError naming each one for a bad type
    # and for a value just outside each constraint
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        check_param_validation(type(estimator).__name__, estimator)


X = np.random.default_rng(0).normal(size=(30, 3))
Y = np.repeat([0, 1], 15)

# one call of each kind of entry point with max_samples=1 (the table says >= 2)
ENTRY_CALLS = {
    "diffusion_spectral_entropy": lambda: skdse.diffusion_spectral_entropy(X, max_samples=1),
    "diffusion_spectral_mutual_information": (
        lambda: skdse.diffusion_spectral_mutual_information(X, Y, max_samples=1)
    ),
    "DiffusionSpectralEntropy": lambda: skdse.DiffusionSpectralEntropy(max_samples=1).fit(X),
    "DiffusionSpectralMI": lambda: skdse.DiffusionSpectralMI(max_samples=1).fit(X, Y),
    "make_dse_scorer": lambda: scoring.make_dse_scorer(max_samples=1),
    "make_dsmi_scorer": lambda: scoring.make_dsmi_scorer(max_samples=1),
    "classic_shannon_entropy": lambda: baselines.classic_shannon_entropy(X, max_samples=1),
    "matrix_entry_mutual_information": (
        lambda: baselines.matrix_entry_mutual_information(X, Y, max_samples=1)
    ),
    "BaselineEntropy": lambda: baselines.BaselineEntropy(max_samples=1).fit(X),
    "BaselineMI": lambda: baselines.BaselineMI(max_samples=1).fit(X, Y),
}


@pytest.mark.parametrize("caller, call", ENTRY_CALLS.items(), ids=ENTRY_CALLS.keys())
def test_a_wrong_value_raises_invalid_parameter_error_naming_it(caller, call):
    with pytest.raises(InvalidParameterError, match=rf"'max_samples' parameter of {caller} must"):
        call()


def test_partition_reference_validates_from_the_table():
    with pytest.raises(InvalidParameterError, match="'n_bins' parameter of partition_reference"):
        skdse.partition_reference(np.linspace(0, 1, 10), n_bins=1)
    with pytest.raises(InvalidParameterError, match="'y_type' parameter of partition_reference"):
        skdse.partition_reference(Y, y_type="labels")


NUMERIC = [
    name for name in ENTROPY if any(isinstance(c, Number) for c in ENTROPY[name].constraints)
]


def test_numeric_parameters_are_the_expected_ones():
    assert set(NUMERIC) >= {"t", "base", "bandwidth", "max_samples", "n_probes", "n_jobs"}


@pytest.mark.parametrize("name", NUMERIC)
@pytest.mark.parametrize("flag", [True, np.bool_(False)], ids=["True", "np.False_"])
def test_booleans_are_refused_for_numeric_parameters(name, flag):
    # Python counts True as the integer 1 (scikit-learn's Interval accepts it)
    if name in skdse.DiffusionSpectralMI().get_params():
        call = lambda: skdse.DiffusionSpectralMI(**{name: flag}).fit(X, Y)  # noqa: E731
    else:
        call = lambda: skdse.diffusion_spectral_entropy(X, **{name: flag})  # noqa: E731
    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter"):
        call()


def test_deprecated_knn_bandwidth_still_works_with_a_future_warning():
    knn = skdse.diffusion_spectral_entropy(X, affinity="knn", n_neighbors=5)
    with pytest.warns(FutureWarning, match="affinity='knn'"):
        old = skdse.diffusion_spectral_entropy(X, bandwidth="knn", n_neighbors=5)
    assert old == knn
    with pytest.warns(FutureWarning, match="affinity='knn'"):
        est = skdse.DiffusionSpectralEntropy(bandwidth="knn", n_neighbors=5).fit(X)
    assert est.affinity_ == "knn" and est.entropy_ == knn
    with pytest.warns(FutureWarning, match="affinity='knn'"):
        scoring.make_dse_scorer(bandwidth="knn")
    assert "knn' (deprecated)" in str(ENTROPY["bandwidth"].constraints[1])


def test_entropy_params_is_built_in_one_place(tmp_path):
    p = entropy_params(bandwidth="knn", t=np.float32(2), max_samples=np.int64(50))
    assert (p.affinity, p.bandwidth) == ("knn", ENTROPY.bandwidth)
    assert type(p.t) is float and type(p.max_samples) is int
    folder = tmp_path / "cache" / "spectra"
    assert entropy_params(memory=folder).memory == str(folder) and folder.is_dir()
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="memory must be a folder"):
        entropy_params(memory=tmp_path / "file")


def test_cli_choices_and_defaults_come_from_the_table():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    checked = set()
    for command in ("entropy", "mi", "profile"):
        for action in sub.choices[command]._actions:
            if action.dest in ENTROPY and action.dest != "random_state":  # the CLI seeds with 0
                assert action.default == getattr(ENTROPY, action.dest), action.dest
                if all(isinstance(c, Choices) for c in ENTROPY[action.dest].constraints):
                    assert tuple(action.choices) == ENTROPY.choices(action.dest)
                checked.add(action.dest)
    assert {"affinity", "solver", "operator", "backend", "dtype", "max_samples"} <= checked


def test_no_parameters_travel_through_locals():
    package = pathlib.Path(skdse.__file__).parent
    for path in package.rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        calls = [
            node.lineno
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "locals"
        ]
        assert not calls, f"{path.name}: locals() at lines {calls}"


@pytest.mark.parametrize(
    "estimator, name, value, method",
    [
        (skdse.DiffusionSpectralEntropy(), "t", -1, lambda e: e.score(X)),
        (skdse.DiffusionSpectralEntropy(), "base", 0.5, lambda e: e.entropy_profile([1, 2])),
        (skdse.DiffusionSpectralMI(n_repeats=1), "n_probes", 1, lambda e: e.score(X, Y)),
        (baselines.BaselineEntropy(), "base", 1, lambda e: e.score(X)),
        (baselines.BaselineMI(n_repeats=1), "n_bins_per_dim", 0, lambda e: e.score(X, Y)),
    ],
    ids=["dse-score", "dse-profile", "dsmi-score", "baseline-score", "baseline-mi-score"],
)
def test_parameters_set_after_fit_are_validated_before_use(estimator, name, value, method):
    fitted = estimator.fit(X, Y)
    fitted.set_params(**{name: value})
    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter"):
        method(fitted)


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


@pytest.mark.parametrize(
    "param, value, exc",
    [
        ("solver", "lanczos", ValueError),
        ("operator", "sparse", ValueError),
        ("n_lanczos_steps", 1, ValueError),
        ("n_probes", 1, ValueError),
        ("n_probes", 2.0, TypeError),
        ("n_deflate", -1, ValueError),
        ("n_neighbors", 0, ValueError),
        ("bandwidth", "kNN", ValueError),
        ("verbose", -1, ValueError),
        ("verbose", "yes", TypeError),
    ],
)
def test_bad_solver_parameters(param, value, exc):
    X = np.random.default_rng(0).normal(size=(30, 2))
    for call in (
        lambda: diffusion_spectral_entropy(X, **{param: value}),
        lambda: DiffusionSpectralMI(**{param: value}).fit(X, np.repeat([0, 1], 15)),
    ):
        with pytest.raises(exc, match=param):
            call()


@pytest.mark.parametrize("value, exc", [(0, ValueError), (1.5, TypeError)])
def test_bad_n_subsamples(value, exc):
    X = np.random.default_rng(0).normal(size=(30, 2))
    with pytest.raises(exc, match="n_subsamples"):
        diffusion_spectral_entropy(X, n_subsamples=value)
    with pytest.raises(exc, match="n_subsamples"):
        DiffusionSpectralEntropy(n_subsamples=value).fit(X)


@pytest.mark.parametrize(
    "name, value",
    [
        ("order", -1.0),
        ("order", "x"),
        ("flatten", "yes"),
        ("return_std", "y"),
        ("neighbors", "fast"),
        ("t", "knee"),
        ("affinity", "pre"),
    ],
)
def test_new_parameters_name_their_bad_values(name, value):
    """This stop's parameters: a wrong value is refused with the parameter's name."""
    X = np.random.default_rng(0).normal(size=(30, 3))
    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter of diffusion_spectral"):
        skdse.diffusion_spectral_mutual_information(X, np.arange(30) % 2, **{name: value})
