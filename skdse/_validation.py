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

import numpy as np
from sklearn.utils import column_or_1d
from sklearn.utils._param_validation import validate_params
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import validate_data

from ._engine.backend import to_numpy, without_grad
from ._engine.inputs import (
    HOST_X_RULES,
    check_not_masked,
    check_sample_rank,
    flatten_samples,
    names_unreal_data,
)
from ._engine.kernels import KernelDiagnostics
from ._engine.placement import placement_of
from ._params import is_deprecated_knn_bandwidth

DISCRETE_TARGETS = ("binary", "multiclass")


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


def check_X(
    X,
    *,
    input_name: str = "X",
    backend: str = "auto",
    affinity: str = "gaussian",
    flatten: bool = False,
):
    """A finite, real, 2-D float64 array with at least 2 samples, where it lives.

    A torch tensor is cut from autograd first. ``flatten`` reshapes an N-D X
    to (n_samples, -1) where it lives (:func:`~skdse._engine.inputs.flatten_samples`);
    without it an N-D X is refused with a message that says how to flatten it.
    For ``affinity="precomputed"`` X is the affinity itself: also square,
    non-negative and symmetric (``validate_affinity``), and ``scipy.sparse``
    is accepted on the host.
    ``backend`` moves the data first (``"cupy"`` puts NumPy input on the
    GPU; a dask X is gathered for any backend but ``"auto"``). In-memory
    arrays are checked by :func:`skdse._engine.inputs.check_local_X`, a
    dask X on its cluster (:mod:`skdse._engine.placement` decides which).
    """
    X = check_not_masked(without_grad(X), input_name)
    if flatten:
        X = flatten_samples(X, input_name)
    check_sample_rank(X, input_name)
    X = placement_of(X).to_backend(X, backend)
    if affinity == "precomputed":
        return placement_of(X).validate_affinity(X, input_name)
    return placement_of(X).validate(X, input_name)


def validate_estimator_X(estimator, X, *, reset: bool):
    """scikit-learn's ``validate_data`` with skdse's rules for host X.

    Dense, float64, finite, at least 2 rows; masked arrays refused
    (:func:`check_not_masked`), non-numbers named (:func:`names_unreal_data`)
    and an N-D X refused with how to flatten it (scikit-learn's 2-D rule).
    Sets or checks ``n_features_in_`` and ``feature_names_in_``.
    """
    X = check_not_masked(without_grad(X), "X")
    check_sample_rank(X, "X")
    with names_unreal_data(X, "X"):
        return validate_data(estimator, X, reset=reset, **HOST_X_RULES)


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
