"""Validation of the data and of the parameters shared by functions and estimators.

Every public entry point (functions, estimators, scorers) funnels through the
checks here, so a wrong value gets the same message wherever it is passed.
"""

from __future__ import annotations

import numbers
import os
import sys
import warnings
from dataclasses import dataclass, replace

import numpy as np
from sklearn.utils import column_or_1d
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import validate_data

from ._engine.backend import to_numpy
from ._engine.inputs import check_not_masked, names_unreal_data
from ._engine.kernels import KernelDiagnostics
from ._engine.placement import placement_of

AFFINITIES = ("gaussian", "knn")
BANDWIDTH_STRINGS = ("scale", "median")
SOLVERS = ("auto", "exact", "slq")
OPERATORS = ("auto", "dense", "matrix_free")
BACKENDS = ("auto", "numpy", "cupy")
DTYPES = ("float64", "float32")
DISCRETE_TARGETS = ("binary", "multiclass")


def _is_real_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _check_real(name: str, value, *, lower: float = 0.0) -> float:
    """A finite real number strictly above ``lower``."""
    if not _is_real_number(value):
        raise TypeError(
            f"{name} must be a real number, got {value!r} of type {type(value).__name__}."
        )
    value = float(value)
    if not np.isfinite(value) or value <= lower:
        raise ValueError(f"{name} must be a finite number > {lower:g}, got {value!r}.")
    return value


def _check_int(name: str, value, *, lower: int, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if not isinstance(value, numbers.Integral) or isinstance(value, (bool, np.bool_)):
        kind = "an integer or None" if allow_none else "an integer"
        raise TypeError(f"{name} must be {kind}, got {value!r}.")
    if value < lower:
        raise ValueError(f"{name} must be an integer >= {lower}, got {value!r}.")
    return int(value)


def check_bandwidth(bandwidth) -> float | str:
    """Validate ``bandwidth``: a positive finite float, ``"scale"`` or ``"median"``.

    The width of the Gaussian affinity only; the deprecated ``"knn"`` is
    turned into ``affinity="knn"`` by :func:`check_entropy_params`.
    """
    if isinstance(bandwidth, str):
        if bandwidth not in BANDWIDTH_STRINGS:
            raise ValueError(
                f"bandwidth must be a positive float or one of {BANDWIDTH_STRINGS}, "
                f"got {bandwidth!r}."
            )
        return bandwidth
    if not _is_real_number(bandwidth):
        raise TypeError(
            f"bandwidth must be a positive float or one of {BANDWIDTH_STRINGS}, "
            f"got {bandwidth!r} of type {type(bandwidth).__name__}."
        )
    return _check_real("bandwidth", bandwidth)


def is_deprecated_knn_bandwidth(bandwidth) -> bool:
    """Whether ``bandwidth`` is the deprecated spelling ``"knn"`` of ``affinity="knn"``."""
    return isinstance(bandwidth, str) and bandwidth == "knn"


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _user_stacklevel() -> int:
    """The ``stacklevel`` of the first frame outside skdse, seen from this function's caller.

    Aims a warning at the user's line (or scikit-learn's, when it calls an
    estimator) however many of skdse's frames lie between, without counting them.
    """
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    return level


def warn_if_deprecated_bandwidth(bandwidth) -> None:
    """The ``FutureWarning`` of ``bandwidth="knn"``, raised once by each public entry point.

    Examples
    --------
    >>> import warnings
    >>> from skdse._validation import warn_if_deprecated_bandwidth
    >>> with warnings.catch_warnings(record=True) as record:
    ...     warnings.simplefilter("always")
    ...     warn_if_deprecated_bandwidth("knn")
    >>> record[0].category.__name__
    'FutureWarning'
    """
    if is_deprecated_knn_bandwidth(bandwidth):
        warnings.warn(
            "bandwidth='knn' is deprecated and will be removed in the next release: "
            "use affinity='knn' (bandwidth is the Gaussian kernel's width only).",
            FutureWarning,
            stacklevel=_user_stacklevel(),
        )


def warn_if_degenerate(diagnostics: KernelDiagnostics | None, bandwidth: float | None) -> None:
    """The ``UserWarning`` of a kernel that carries no structure, raised by each public entry point.

    ``diagnostics`` and ``bandwidth`` are those a result carries
    (:class:`~skdse._entropy.DSEResult`, :class:`~skdse._mi.DSMIResult`);
    the warning is aimed at the first line outside skdse. Nothing is raised
    without a Gaussian width (``bandwidth`` None: the kNN affinity) or
    diagnostics (the baselines).

    Examples
    --------
    >>> import warnings
    >>> from skdse._engine.kernels import KernelDiagnostics
    >>> from skdse._validation import warn_if_degenerate
    >>> with warnings.catch_warnings(record=True) as record:
    ...     warnings.simplefilter("always")
    ...     warn_if_degenerate(KernelDiagnostics(50, 0.999, 48.95), 1000.0)
    >>> str(record[0].message)[:39]
    'bandwidth=1000 is too large for this da'
    """
    if diagnostics is None or bandwidth is None:
        return
    problem = diagnostics.problem()
    if problem == "wide":
        msg = (
            f"bandwidth={bandwidth:.4g} is too large for this data: the mean off-diagonal "
            f"affinity is {diagnostics.mean_affinity:.4f}, so the diffusion operator has one "
            "eigenvalue 1 and a near-zero bulk and DSE is close to 0 whatever the data. "
            "Use bandwidth='scale' or 'median', or a smaller float."
        )
    elif problem == "narrow":
        msg = (
            f"bandwidth={bandwidth:.4g} is too small for this data: each point gives a mean "
            f"affinity mass of {diagnostics.mean_mass:.2e} to all others, so the diffusion "
            "operator is close to the identity and DSE is close to log(N) whatever the "
            "data. Use bandwidth='scale' or 'median', or a larger float."
        )
    else:
        return
    warnings.warn(msg, UserWarning, stacklevel=_user_stacklevel())


def check_base(base) -> float:
    """Validate the logarithm base: a finite number above 1.

    A base in (0, 1) has a negative logarithm, so every entropy would come
    out negative (and the bounds ``[0, log_base N]`` reversed): refused.
    """
    base = _check_real("base", base)
    if base <= 1.0:
        raise ValueError(
            f"base must be a finite number > 1 (2 for bits, math.e for nats), got {base!r}: "
            "a base at or below 1 makes entropies negative or undefined."
        )
    return base


def validate_random_state(random_state):
    """Validate ``random_state`` by scikit-learn's convention, with a message naming it.

    Accepted: None, an integer in ``[0, 2**32 - 1]`` (NumPy's seed range) or a
    ``numpy.random.RandomState``. A ``numpy.random.Generator`` is refused, as
    scikit-learn refuses it: pass an integer drawn from it instead.

    Examples
    --------
    >>> from skdse._validation import validate_random_state
    >>> validate_random_state(0)
    0
    """
    if random_state is None or isinstance(random_state, np.random.RandomState):
        return random_state
    accepted = "None, an integer in [0, 2**32 - 1] or a numpy.random.RandomState instance"
    if isinstance(random_state, numbers.Integral) and not isinstance(
        random_state, (bool, np.bool_)
    ):
        if 0 <= random_state <= np.iinfo(np.uint32).max:
            return int(random_state)
        raise ValueError(f"random_state must be {accepted}, got {random_state!r}.")
    if isinstance(random_state, np.random.Generator):
        raise TypeError(
            f"random_state must be {accepted} (scikit-learn's convention), got a "
            "numpy.random.Generator: pass an integer drawn from it, for example "
            "random_state=int(rng.integers(2**32))."
        )
    raise TypeError(
        f"random_state must be {accepted}, got {random_state!r} of type "
        f"{type(random_state).__name__}."
    )


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


def _check_memory(memory):
    """None, a path to a writable folder, or an object with joblib.Memory's ``cache`` method.

    A path (or a joblib.Memory's ``location``) is created here, as joblib would
    on first use, so a file or an unwritable place is refused up front with a
    ValueError naming ``memory`` and the path.
    """
    if isinstance(memory, os.PathLike):
        memory = os.fspath(memory)  # joblib lays out Path and str locations differently
    if isinstance(memory, bytes):
        memory = os.fsdecode(memory)
    if isinstance(memory, str):
        _check_cache_folder(memory)
        return memory
    if memory is None:
        return memory
    if hasattr(memory, "cache"):
        location = getattr(memory, "location", None)
        if isinstance(location, (str, os.PathLike)):
            _check_cache_folder(os.fspath(location))
        return memory
    raise ValueError(
        "memory must be None, a path to a cache folder or a joblib.Memory, "
        f"got {memory!r} of type {type(memory).__name__}."
    )


def _check_choice(name: str, value, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}.")
    return value


@dataclass(frozen=True)
class EntropyParams:
    """Validated parameters of an entropy computation (functions and estimators alike).

    ``bandwidth`` is the Gaussian affinity's width, ignored when ``affinity`` is ``"knn"``.
    """

    affinity: str = "gaussian"
    bandwidth: float | str = "scale"
    t: float = 1.0
    base: float = 2.0
    max_samples: int | None = 10000
    n_subsamples: int = 1
    solver: str = "auto"
    operator: str = "auto"
    n_neighbors: int = 15
    n_lanczos_steps: int = 30
    n_probes: int = 32
    n_deflate: int = 64
    backend: str = "auto"
    dtype: str = "float64"
    verbose: int = 0
    memory: object = None
    n_repeats: int = 1
    n_jobs: int | None = None

    @property
    def itemsize(self) -> int:
        """Bytes per element of the exact solver's operator."""
        return np.dtype(self.dtype).itemsize

    def with_kernel(self, affinity: str, bandwidth: float | None) -> EntropyParams:
        """The parameters of a fitted kernel: its affinity and resolved width.

        ``bandwidth`` is None for the ``"knn"`` affinity (no single width):
        the parameter's value is kept, and ignored.
        """
        if bandwidth is None:
            return replace(self, affinity=affinity)
        return replace(self, affinity=affinity, bandwidth=bandwidth)


def entropy_params_from(namespace: dict) -> EntropyParams:
    """Validate the entropy parameters found among a function's arguments.

    ``entropy_params_from(locals())`` at the top of a public function picks
    the arguments that are :class:`EntropyParams` fields (and
    ``random_state``, which is checked but not kept).
    """
    names = set(EntropyParams.__dataclass_fields__) | {"random_state"}
    return check_entropy_params(**{k: v for k, v in namespace.items() if k in names})


def check_entropy_params(
    *,
    affinity="gaussian",
    bandwidth="scale",
    t=1,
    base=2,
    max_samples=10000,
    n_subsamples=1,
    solver="auto",
    operator="auto",
    n_neighbors=15,
    n_lanczos_steps=30,
    n_probes=32,
    n_deflate=64,
    backend="auto",
    dtype="float64",
    verbose=0,
    memory=None,
    n_repeats=1,
    n_jobs=None,
    random_state=None,
) -> EntropyParams:
    """Validate the parameters every entropy computation takes.

    Each wrong value raises a ValueError or TypeError that names it. The
    deprecated ``bandwidth="knn"`` means ``affinity="knn"`` (its warning is
    the entry point's: :func:`warn_if_deprecated_bandwidth`); ``bandwidth``
    is checked whatever the affinity, and ignored by ``"knn"``.
    """
    validate_random_state(random_state)
    affinity = _check_choice("affinity", affinity, AFFINITIES)
    if is_deprecated_knn_bandwidth(bandwidth):
        affinity, bandwidth = "knn", EntropyParams.bandwidth
    return EntropyParams(
        affinity=affinity,
        bandwidth=check_bandwidth(bandwidth),
        t=_check_real("t", t),
        base=check_base(base),
        max_samples=_check_int("max_samples", max_samples, lower=2, allow_none=True),
        n_subsamples=_check_int("n_subsamples", n_subsamples, lower=1),
        solver=_check_choice("solver", solver, SOLVERS),
        operator=_check_choice("operator", operator, OPERATORS),
        n_neighbors=_check_int("n_neighbors", n_neighbors, lower=1),
        n_lanczos_steps=_check_int("n_lanczos_steps", n_lanczos_steps, lower=2),
        n_probes=_check_int("n_probes", n_probes, lower=2),
        n_deflate=_check_int("n_deflate", n_deflate, lower=0),
        backend=_check_choice("backend", backend, BACKENDS),
        dtype=_check_choice("dtype", dtype, DTYPES),
        verbose=_check_int("verbose", verbose, lower=0),
        memory=_check_memory(memory),
        n_repeats=_check_int("n_repeats", n_repeats, lower=1),
        n_jobs=check_n_jobs(n_jobs),
    )


def check_n_jobs(n_jobs) -> int | None:
    """None or a nonzero integer (-1: every usable CPU; -2: all but one; ...)."""
    if n_jobs is None:
        return None
    if not isinstance(n_jobs, numbers.Integral) or isinstance(n_jobs, (bool, np.bool_)):
        raise TypeError(f"n_jobs must be an integer or None, got {n_jobs!r}.")
    if n_jobs == 0:
        raise ValueError("n_jobs must be None, a positive integer or a negative one, got 0.")
    return int(n_jobs)


def check_X(X, *, input_name: str = "X", backend: str = "auto"):
    """A finite, real, 2-D float64 array with at least 2 samples, where it lives.

    ``backend`` moves the data first (``"cupy"`` puts NumPy input on the
    GPU; a dask X is gathered for any backend but ``"auto"``). In-memory
    arrays are checked by :func:`skdse._engine.inputs.check_local_X`, a
    dask X on its cluster (:mod:`skdse._engine.placement` decides which).
    """
    X = check_not_masked(X, input_name)
    X = placement_of(X).to_backend(X, backend)
    return placement_of(X).validate(X, input_name)


def validate_estimator_X(estimator, X, *, reset: bool):
    """scikit-learn's ``validate_data`` with skdse's rules for host X.

    Dense, float64, finite, at least 2 rows; masked arrays refused
    (:func:`check_not_masked`) and non-numbers named (:func:`names_unreal_data`).
    Sets or checks ``n_features_in_`` and ``feature_names_in_``.
    """
    with names_unreal_data(X, "X"):
        return validate_data(
            estimator,
            check_not_masked(X, "X"),
            reset=reset,
            accept_sparse=False,
            dtype=np.float64,
            ensure_min_samples=2,
            ensure_all_finite=True,
        )


def check_no_missing(y: np.ndarray) -> None:
    """Refuse NaN, infinity or None anywhere in y."""
    if y.dtype.kind in "fc" and not np.all(np.isfinite(y)):
        raise ValueError("y contains NaN or infinity; every sample needs a finite label or value.")
    if y.dtype.kind == "O":
        flat = y.ravel()
        if any(
            v is None or (isinstance(v, (float, np.floating)) and not np.isfinite(v)) for v in flat
        ):
            raise ValueError("y contains missing labels (None or NaN); every sample needs a label.")


def check_discrete_y(y, n_samples: int) -> np.ndarray:
    """Class labels as a 1-D NumPy array of length ``n_samples``.

    Any label type scikit-learn accepts for classification works (integers,
    strings, booleans). A continuous y is refused here: it is binned or
    clustered by :func:`skdse.partition_reference`, which brings y to the
    host (``as_host_y``) before it calls this check.
    """
    if y is None:
        raise ValueError("y is required: DSMI measures the information X holds about y.")
    y = column_or_1d(to_numpy(y), warn=True)
    if y.shape[0] != n_samples:
        raise ValueError(
            f"X and y have inconsistent numbers of samples: X has {n_samples}, y has {y.shape[0]}."
        )
    check_no_missing(y)
    with np.errstate(invalid="ignore", over="ignore"):  # its integer cast of huge floats
        kind = type_of_target(y, input_name="y")
    if kind not in DISCRETE_TARGETS:
        raise ValueError(
            f"Unknown label type: {kind!r}. y_type='discrete' needs class labels (integers, "
            "strings or booleans); pass y_type='continuous' (or 'auto') to bin a continuous "
            "scalar y into n_bins groups."
        )
    return y
