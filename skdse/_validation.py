"""Validation of the data (X and y), and the warnings every entry point raises.

Every public entry point (functions, estimators, scorers) funnels through the
checks here, so a wrong X or y gets the same message wherever it is passed.
The parameters' defaults and constraints are in :mod:`skdse._params`.
"""

from __future__ import annotations

import inspect
import os
import sys
import warnings
from contextlib import contextmanager

import numpy as np
from sklearn.utils import check_array, column_or_1d
from sklearn.utils._param_validation import validate_params
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import validate_data

from ._engine.backend import is_numpy, namespace, to_backend, to_numpy
from ._engine.kernels import KernelDiagnostics
from ._engine.resources import available_memory_bytes
from ._params import is_deprecated_knn_bandwidth

DISCRETE_TARGETS = ("binary", "multiclass")


class InsufficientMemoryError(MemoryError):
    """Raised before allocating an operator that cannot fit in memory.

    Examples
    --------
    >>> from skdse import InsufficientMemoryError
    >>> issubclass(InsufficientMemoryError, MemoryError)
    True
    """


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
#: scikit-learn's ``validate_params`` wrapper, through which skdse's functions are called
_VALIDATE_PARAMS_FILE = inspect.getfile(validate_params)


def _in_skdse(filename: str) -> bool:
    return filename.startswith(_PACKAGE_DIR) or filename == _VALIDATE_PARAMS_FILE


def _user_stacklevel() -> int:
    """The ``stacklevel`` of the first frame outside skdse, seen from this function's caller.

    Aims a warning at the user's line (or scikit-learn's, when it calls an
    estimator) however many of skdse's frames lie between, without counting them;
    the ``validate_params`` wrapper of skdse's functions counts as skdse's.
    """
    frame, level = sys._getframe(1), 1
    while frame is not None and _in_skdse(frame.f_code.co_filename):
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


def check_X(X, *, input_name: str = "X", backend: str = "auto"):
    """A finite, real, 2-D floating array with at least 2 samples, on its backend.

    NumPy-convertible input (lists, pandas) goes through scikit-learn's
    ``check_array``; array-API arrays (CuPy, PyTorch, ...) keep their
    namespace and device and get the same checks. ``backend`` moves the
    data first (``"cupy"`` puts NumPy input on the GPU). Sparse input is
    refused with a :class:`TypeError` that says to densify it.

    X is float64 whatever the ``dtype`` parameter of the measures: that is
    the precision of the stored operator only. The kernel takes its
    exponents in float64 anyway (:func:`skdse._engine.kernels.kernel_coordinates`);
    a float32 copy of X would round the data itself and turn values beyond
    float32's range (below 1e-38, above 3e38) into 0 or inf.
    """
    from ._engine.dask import check_dask_X, is_dask_array

    X = check_not_masked(X, input_name)
    if is_dask_array(X):
        if backend == "auto":
            return check_dask_X(X, "float64", input_name)
        X = X.compute()
    X = to_backend(X, backend)[1]
    xp = namespace(X)
    if is_numpy(xp):
        with names_unreal_data(X, input_name):
            return check_array(
                X,
                accept_sparse=False,
                dtype=np.float64,
                ensure_2d=True,
                ensure_min_samples=2,
                ensure_min_features=1,
                ensure_all_finite=True,
                input_name=input_name,
            )
    return _check_device_array(X, xp, input_name)


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


@contextmanager
def names_unreal_data(X, input_name: str):
    """Re-raise NumPy's bare conversion errors (strings, complex) with ``input_name`` in them.

    Only the failure path looks at the data again, so valid input costs nothing.
    Inside, floating-point overflow is not warned about: scikit-learn's
    finiteness check first sums the data, which overflows (``inf - inf``) for
    finite values near the float64 limit, and then checks element-wise, which
    decides.
    """
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            yield
    except (TypeError, ValueError) as exc:
        if input_name in str(exc):
            raise
        try:
            kind = np.asarray(X).dtype.kind
        except (TypeError, ValueError):
            kind = "O"
        if kind == "c":
            raise ValueError(f"Complex data not supported for {input_name}.") from exc
        if kind not in "OUS":
            raise
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise type(exc)(
            f"{input_name} must hold real numbers (no strings or other objects); "
            f"converting it failed: {reason}"
        ) from exc


def check_not_masked(a, input_name: str):
    """Refuse a ``numpy.ma.MaskedArray`` with masked entries; unwrap one without.

    NumPy's conversions read a masked array's data, masked values included,
    so they would enter the result silently.

    Examples
    --------
    >>> import numpy as np
    >>> from skdse._validation import check_not_masked
    >>> check_not_masked(np.ma.masked_array([1.0, 2.0]), "X")
    array([1., 2.])
    """
    if not isinstance(a, np.ma.MaskedArray):
        return a
    n_masked = int(np.ma.count_masked(a))
    if n_masked:
        raise ValueError(
            f"{input_name} is a numpy masked array with {n_masked} masked entries; skdse "
            f"does not use masked values. Fill them ({input_name}.filled(value)) or drop the "
            "samples that hold them (from X and y alike) first."
        )
    return np.ma.getdata(a)


def _check_device_array(X, xp, input_name: str):
    """check_array's checks for an array that is not NumPy's, without moving it."""
    if X.ndim != 2:
        raise ValueError(
            f"Expected 2D array, got {X.ndim}D array instead for {input_name} "
            f"(shape {tuple(X.shape)}). Reshape your data."
        )
    n, d = X.shape
    if n < 2:
        raise ValueError(
            f"Found array with {n} sample(s) (shape={tuple(X.shape)}) while a minimum of 2 "
            f"is required for {input_name}."
        )
    if d < 1:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={tuple(X.shape)}) for {input_name}."
        )
    if xp.isdtype(X.dtype, "complex floating"):
        raise ValueError(f"Complex data not supported for {input_name}.")
    if not xp.isdtype(X.dtype, ("real floating", "integral", "bool")):
        raise TypeError(f"{input_name} must hold real numbers, got dtype {X.dtype}.")
    X = xp.astype(X, xp.float64)
    if not bool(xp.all(xp.isfinite(X))):
        raise ValueError(f"Input {input_name} contains NaN or infinity.")
    return X


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


def check_memory(need: int, what: str, advice: str, available=None) -> None:
    """Refuse, before allocating, ``need`` bytes that the machine does not have.

    ``available`` is the free device memory for GPU arrays (None: host memory).
    """
    where = "memory" if available is None else "device memory"
    have = available if available is not None else available_memory_bytes()
    if have is not None and need > have:
        raise InsufficientMemoryError(
            f"{what} needs about {need / 2**30:.1f} GiB, but only {have / 2**30:.1f} GiB "
            f"of {where} is available. {advice}"
        )


def check_dense_fits(n: int, *, itemsize: int = 8, n_arrays: float = 1.1, available=None) -> None:
    """Refuse, before allocating, an ``n x n`` operator that cannot fit in memory.

    ``n_arrays`` counts the N x N arrays alive at the peak (the operator plus
    the eigensolver's workspace). ``available`` is the free device memory
    for GPU arrays (None: ask the operating system).
    """
    where = "memory" if available is None else "device memory"
    have = available if available is not None else available_memory_bytes()
    if have is None:
        return
    need = int(n_arrays * itemsize * n * n)
    if need > have:
        fits = max(2, int(0.8 * np.sqrt(have / (itemsize * n_arrays))))
        extra = " or dtype='float32'" if itemsize == 8 else ""
        raise InsufficientMemoryError(
            f"The exact solver's dense {n} x {n} operator needs about {need / 2**30:.1f} GiB, "
            f"but only {have / 2**30:.1f} GiB of {where} is available. Pass solver='slq' "
            f"(matrix-free above this size){extra}, or a smaller max_samples (for example "
            f"max_samples={fits}) to use a uniform subsample."
        )
