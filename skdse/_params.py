"""Every public parameter's default and constraints, declared once.

The tables here are the single source of the public parameters: the
signatures of the functions, estimators and scorer factories take their
defaults from them (``affinity=ENTROPY.affinity``), the estimators'
``_parameter_constraints`` and the functions' :func:`validated` decorator are
built from them (scikit-learn's ``InvalidParameterError``, a ``ValueError``
and ``TypeError``, names the parameter), and the command line reads its
choices and defaults from them.

After validation, an entry point builds the one typed settings object the
engine reads, :class:`EntropyParams`, with :func:`entropy_params` (named
arguments only), which also runs the checks a constraint cannot state (a
``memory`` folder is created up front).

- :data:`ENTROPY`: the parameters of DSE and DSMI (functions, estimators, scorers);
- :data:`PARTITION`: how a reference y is read (:func:`skdse.partition_reference`);
- :data:`BASELINE`: the paper's baselines (:mod:`skdse.baselines`), which share
  ``base``, ``max_samples``, ``n_repeats``, ``random_state`` and ``n_jobs`` with
  :data:`ENTROPY` and have their own ``bandwidth`` (no ``"knn"``) and ``n_neighbors``;
- :data:`RANK`: the effective rank's ``eps`` and the Vendi score's parameters
  (its ``order`` is :data:`ENTROPY`'s, its ``bandwidth`` the baselines');
- :data:`SCORING`: the scorer factories' own ``greater_is_better``.

Examples
--------
>>> from skdse._params import ENTROPY, parameter_constraints
>>> ENTROPY.bandwidth, ENTROPY.choices("solver")
('scale', ('auto', 'exact', 'slq'))
>>> def f(*, t=ENTROPY.t): ...
>>> [str(c) for c in parameter_constraints(f, ENTROPY)["t"]]
['a float in the range (0.0, inf)', "a str among {'auto'}"]
"""

from __future__ import annotations

import inspect
import math
import os
from dataclasses import dataclass, replace
from numbers import Integral, Real
from types import MappingProxyType

import numpy as np
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    Options,
    StrOptions,
    validate_parameter_constraints,
    validate_params,
)


class Number(Interval):
    """scikit-learn's :class:`Interval` that refuses booleans, with an optional hint.

    Python counts ``True`` as an integer (and a real), so ``Interval`` accepts
    it for ``n_probes`` or ``t``; here it is refused. ``hint`` is appended to
    the constraint's description in the error message.

    Examples
    --------
    >>> from numbers import Integral
    >>> c = Number(Integral, 1, None, closed="left")
    >>> c.is_satisfied_by(3), c.is_satisfied_by(True), c.is_satisfied_by(0)
    (True, False, False)
    """

    def __init__(self, type, left, right, *, closed, hint=""):
        super().__init__(type, left, right, closed=closed)
        self.hint = hint

    def is_satisfied_by(self, val):
        return not isinstance(val, (bool, np.bool_)) and super().is_satisfied_by(val)

    def __str__(self):
        text = super().__str__()
        return f"{text} ({self.hint})" if self.hint else text


class Choices(StrOptions):
    """scikit-learn's :class:`StrOptions`, listed in the order they are declared.

    Examples
    --------
    >>> str(Choices("scale", "median", "knn", deprecated=("knn",)))
    "a str among {'scale', 'median', 'knn' (deprecated)}"
    >>> Choices("scale", "median", "knn", deprecated=("knn",)).current
    ('scale', 'median')
    """

    def __init__(self, *options: str, deprecated: tuple[str, ...] = ()):
        super().__init__(set(options), deprecated=set(deprecated))
        self.ordered = options

    @property
    def current(self) -> tuple[str, ...]:
        """The options not deprecated, in order (the command line's choices)."""
        return tuple(o for o in self.ordered if o not in self.deprecated)

    def __str__(self):
        return f"a str among {{{', '.join(self._mark_if_deprecated(o) for o in self.ordered)}}}"


def _ints(left, right=None):
    return Number(Integral, left, right, closed="left" if right is None else "both")


_POSITIVE = Number(Real, 0, None, closed="neither")
_SEED_MAX = 2**32 - 1  # NumPy's seed range


@dataclass(frozen=True)
class Param:
    """One public parameter: its default and scikit-learn constraints (any one suffices)."""

    default: object
    constraints: tuple


class Table:
    """Public parameters by name: ``table.name`` is the default, ``table[name]`` the :class:`Param`.

    Examples
    --------
    >>> t = Table(k=Param(3, (Number(Integral, 1, None, closed="left"),)))
    >>> t.k, "k" in t, list(t)
    (3, True, ['k'])
    """

    def __init__(self, **params: Param):
        self._params = MappingProxyType(params)

    def __getattr__(self, name: str):
        params = self.__dict__.get("_params", {})
        if name not in params:
            raise AttributeError(f"no public parameter {name!r} in this table")
        return params[name].default

    def __getitem__(self, name: str) -> Param:
        return self._params[name]

    def __contains__(self, name) -> bool:
        return name in self._params

    def __iter__(self):
        return iter(self._params)

    def choices(self, name: str) -> tuple[str, ...]:
        """The current string options of ``name`` (for the command line's ``choices=``)."""
        return next(c.current for c in self[name].constraints if isinstance(c, Choices))


ENTROPY = Table(
    affinity=Param("gaussian", (Choices("gaussian", "knn", "precomputed"),)),
    bandwidth=Param("scale", (_POSITIVE, Choices("scale", "median", "knn", deprecated=("knn",)))),
    t=Param(1, (_POSITIVE, Choices("auto"))),  # "auto": the knee of the entropy profile
    base=Param(2, (Number(Real, 1, None, closed="neither", hint="2 for bits, math.e for nats"),)),
    max_samples=Param(10000, (_ints(2), None)),
    n_subsamples=Param(1, (_ints(1),)),
    solver=Param("auto", (Choices("auto", "exact", "slq"),)),
    operator=Param("auto", (Choices("auto", "dense", "matrix_free"),)),
    n_neighbors=Param(15, (_ints(1),)),
    neighbors=Param("auto", (Choices("auto", "exact", "approximate"),)),  # the kNN search
    n_lanczos_steps=Param(30, (_ints(2),)),
    n_probes=Param(32, (_ints(2),)),
    # "auto": 64 directions, doubled while slq's standard error is over its share of the target
    n_deflate=Param("auto", (_ints(0), Choices("auto"))),
    backend=Param("auto", (Choices("auto", "numpy", "cupy"),)),
    dtype=Param("float64", (Choices("float64", "float32"),)),
    flatten=Param(False, ("boolean",)),  # the functions' (N, ...) -> (N, -1); not the estimators'
    verbose=Param(0, (_ints(0),)),
    memory=Param(None, (None, str, bytes, os.PathLike, HasMethods("cache"))),
    n_repeats=Param(5, (_ints(1),)),
    random_state=Param(
        None,
        (
            None,
            Number(
                Integral,
                0,
                _SEED_MAX,
                closed="both",
                hint="from a numpy.random.Generator rng, pass int(rng.integers(2**32))",
            ),
            np.random.RandomState,
        ),
    ),
    n_jobs=Param(
        None,
        (None, _ints(1), Number(Integral, None, -1, closed="right")),
    ),
    # Rényi order of the spectral entropies: 1 is Shannon's, inf the min-entropy
    order=Param(1.0, (Number(Real, 0, None, closed="neither"), Options(Real, {math.inf}))),
    # DSMI's standard error too, from the functions; a second metric from the scorers
    return_std=Param(False, ("boolean",)),
)

PARTITION = Table(
    y_type=Param("auto", (Choices("auto", "discrete", "continuous"),)),
    n_bins=Param(10, (_ints(2),)),
    n_clusters=Param(10, (_ints(1),)),  # as SpectralClustering: one cluster, one group
    clusterer=Param(None, (None, HasMethods("fit"), HasMethods("fit_predict"))),
    n_samples=Param(None, (None, _ints(1))),
)

BASELINE = Table(
    measure=Param("classic", (Choices("classic", "matrix_entry", "adjacency"),)),
    n_bins_per_dim=Param(2, (_ints(1),)),
    kind=Param("gaussian", (Choices("gaussian", "normalized", "knn"),)),
    bandwidth=Param("scale", (_POSITIVE, Choices("scale", "median"))),
    n_neighbors=Param(10, (_ints(1),)),
    **{name: ENTROPY[name] for name in ("base", "max_samples", "n_repeats", "flatten")},
    random_state=ENTROPY["random_state"],
    n_jobs=ENTROPY["n_jobs"],
)

RANK = Table(
    eps=Param(0.0, (Number(Real, 0, 1, closed="left"),)),  # RankMe's epsilon
    order=ENTROPY["order"],
    bandwidth=BASELINE["bandwidth"],
    random_state=ENTROPY["random_state"],
    flatten=ENTROPY["flatten"],
)

SCORING = Table(greater_is_better=Param(True, ("boolean",)))

#: Arguments that are data, not parameters: no table holds them.
DATA_ARGUMENTS = ("self", "X", "y")


def parameter_constraints(func, *tables: Table) -> dict[str, list]:
    """scikit-learn's constraints of every parameter in ``func``'s signature, from ``tables``.

    Each parameter (data arguments aside) must be in exactly one of the
    tables (or be the same :class:`Param` in several), so a parameter added
    to a signature without a table entry fails at import.
    """
    out = {}
    for name, p in inspect.signature(func).parameters.items():
        if name in DATA_ARGUMENTS or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        found = {id(t[name]): t[name] for t in tables if name in t}
        if len(found) != 1:
            raise TypeError(
                f"{func.__qualname__}: parameter {name!r} is declared in {len(found)} of the "
                "parameter tables given; it must be in exactly one."
            )
        out[name] = list(next(iter(found.values())).constraints)
    return out


def validated(*tables: Table, prefer_skip_nested_validation: bool = True):
    """scikit-learn's ``validate_params`` with ``func``'s constraints taken from ``tables``.

    Pass ``prefer_skip_nested_validation=False`` where a user's estimator
    comes in (``clusterer``): its own parameters are then validated when it
    is fitted.
    """

    def decorate(func):
        return validate_params(
            parameter_constraints(func, *tables),
            prefer_skip_nested_validation=prefer_skip_nested_validation,
        )(func)

    return decorate


def check_value(table: Table, name: str, value, caller: str, *, numbers_only: bool = False) -> None:
    """Validate one value of ``name`` against its constraints (for method arguments).

    Examples
    --------
    >>> check_value(ENTROPY, "t", -1.0, "entropy_profile")
    Traceback (most recent call last):
        ...
    sklearn.utils._param_validation.InvalidParameterError: The 't' parameter of \
entropy_profile must be a float in the range (0.0, inf) or a str among {'auto'}. \
Got -1.0 instead.
    """
    constraints = [
        c for c in table[name].constraints if not (numbers_only and isinstance(c, StrOptions))
    ]
    validate_parameter_constraints({name: constraints}, {name: value}, caller)


def is_deprecated_knn_bandwidth(bandwidth) -> bool:
    """Whether ``bandwidth`` is the deprecated spelling ``"knn"`` of ``affinity="knn"``."""
    return isinstance(bandwidth, str) and bandwidth == "knn"


def _check_cache_folder(location: str) -> None:
    """Create the cache folder now, so a bad ``memory`` fails before any work, naming it."""
    try:
        os.makedirs(location, exist_ok=True)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ValueError(
            f"memory must be a folder the cache can be written to; {location!r} cannot be "
            f"created as one ({reason}). Pass another path, or memory=None."
        ) from exc
    if not os.access(location, os.W_OK | os.X_OK):
        raise ValueError(
            f"memory must be a folder the cache can be written to; {location!r} is not "
            "writable by this process. Pass another path, or memory=None."
        )


def check_memory_folder(memory):
    """``memory`` (its type already validated) with its folder created and writable.

    A path (or a joblib.Memory's ``location``) is created here, as joblib would
    on first use, so a file or an unwritable place is refused up front with a
    ValueError naming ``memory`` and the path. Paths come back as ``str``:
    joblib lays out Path and str locations differently.
    """
    if isinstance(memory, (bytes, os.PathLike)):
        memory = os.fsdecode(memory)
    if isinstance(memory, str):
        _check_cache_folder(memory)
        return memory
    location = getattr(memory, "location", None)
    if isinstance(location, (str, os.PathLike)):
        _check_cache_folder(os.fspath(location))
    return memory


@dataclass(frozen=True)
class EntropyParams:
    """Validated parameters of an entropy computation (functions and estimators alike).

    Built by :func:`entropy_params` only. ``bandwidth`` is the Gaussian
    affinity's width, ignored when ``affinity`` is ``"knn"`` or ``"precomputed"``.
    ``t`` is a float, or ``"auto"``, which the measures resolve from the
    spectrum (:func:`~skdse._engine.knee.knee_time`) before any entropy is read.
    """

    affinity: str
    bandwidth: float | str
    t: float | str
    base: float
    order: float
    max_samples: int | None
    n_subsamples: int
    solver: str
    operator: str
    n_neighbors: int
    neighbors: str
    n_lanczos_steps: int
    n_probes: int
    n_deflate: int | str
    backend: str
    dtype: str
    verbose: int
    memory: object
    n_repeats: int
    n_jobs: int | None
    #: whether the user gave ``random_state`` (set by the computations, which take
    #: it apart): an approximate kNN search then runs on one thread, so that its
    #: graph is the same on every machine (:func:`~skdse._engine.solve.knn_threads`)
    seeded: bool = False

    @property
    def pairwise(self) -> bool:
        """Whether X is the (n, n) affinity itself (``"precomputed"``): a subset of its
        points is a principal sub-matrix (their rows and columns), not rows."""
        return self.affinity == "precomputed"

    @property
    def uses_bandwidth(self) -> bool:
        """Whether the kernel has a single width to resolve (the Gaussian affinity only)."""
        return self.affinity == "gaussian"

    @property
    def itemsize(self) -> int:
        """Bytes per element of the exact solver's operator."""
        return np.dtype(self.dtype).itemsize

    def with_kernel(self, affinity: str, bandwidth: float | None) -> EntropyParams:
        """The parameters of a fitted kernel: its affinity and resolved width.

        ``bandwidth`` is None for the ``"knn"`` and ``"precomputed"`` affinities (no single width):
        the parameter's value is kept, and ignored.
        """
        if bandwidth is None:
            return replace(self, affinity=affinity)
        return replace(self, affinity=affinity, bandwidth=bandwidth)


def _int_or_none(value) -> int | None:
    return None if value is None else int(value)


def entropy_params(
    *,
    affinity=ENTROPY.affinity,
    bandwidth=ENTROPY.bandwidth,
    t=ENTROPY.t,
    base=ENTROPY.base,
    order=ENTROPY.order,
    max_samples=ENTROPY.max_samples,
    n_subsamples=ENTROPY.n_subsamples,
    solver=ENTROPY.solver,
    operator=ENTROPY.operator,
    n_neighbors=ENTROPY.n_neighbors,
    neighbors=ENTROPY.neighbors,
    n_lanczos_steps=ENTROPY.n_lanczos_steps,
    n_probes=ENTROPY.n_probes,
    n_deflate=ENTROPY.n_deflate,
    backend=ENTROPY.backend,
    dtype=ENTROPY.dtype,
    verbose=ENTROPY.verbose,
    memory=ENTROPY.memory,
    n_repeats=ENTROPY.n_repeats,
    n_jobs=ENTROPY.n_jobs,
) -> EntropyParams:
    """The one place an :class:`EntropyParams` is built, from values :data:`ENTROPY` accepted.

    The entry points validate first (:func:`validated`, an estimator's
    ``_validate_params``); here the deprecated ``bandwidth="knn"`` becomes
    ``affinity="knn"`` (its ``FutureWarning`` is the entry point's), numbers
    become Python floats and ints, and ``memory``'s folder is created
    (:func:`check_memory_folder`), the one check no constraint states.

    Examples
    --------
    >>> p = entropy_params(bandwidth="knn", t=2)
    >>> p.affinity, p.bandwidth, p.t
    ('knn', 'scale', 2.0)
    """
    if is_deprecated_knn_bandwidth(bandwidth):
        affinity, bandwidth = "knn", ENTROPY.bandwidth
    return EntropyParams(
        affinity=affinity,
        bandwidth=bandwidth if isinstance(bandwidth, str) else float(bandwidth),
        t=t if isinstance(t, str) else float(t),
        base=float(base),
        order=float(order),
        max_samples=_int_or_none(max_samples),
        n_subsamples=int(n_subsamples),
        solver=solver,
        operator=operator,
        n_neighbors=int(n_neighbors),
        neighbors=neighbors,
        n_lanczos_steps=int(n_lanczos_steps),
        n_probes=int(n_probes),
        n_deflate=n_deflate if isinstance(n_deflate, str) else int(n_deflate),
        backend=backend,
        dtype=dtype,
        verbose=int(verbose),
        memory=check_memory_folder(memory),
        n_repeats=int(n_repeats),
        n_jobs=_int_or_none(n_jobs),
    )


@dataclass(frozen=True)
class PartitionParams:
    """Validated parameters of :func:`skdse.partition_reference`, kept by the DSMI scorers."""

    y_type: str
    n_bins: int
    n_clusters: int
    clusterer: object
