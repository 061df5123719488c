"""Checks of the data arrays themselves (X, and y's conversions), on any array library.

Dense, real, finite, 2-D, at least 2 rows: scikit-learn's ``check_array`` for
NumPy-convertible input, the same checks in place for array-API arrays on a
device. A dask X is checked on its cluster instead
(:meth:`skdse._engine.dask.ClusterPlacement.validate`). An N-D X (a
convolutional layer's activations) is reshaped to 2-D by
:func:`flatten_samples` only, when the functions' ``flatten=True`` asks for it;
otherwise :func:`check_sample_rank` refuses it and says how to flatten it.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import numpy as np
from sklearn.utils import check_array

from .backend import is_numpy, namespace


def flatten_samples(X, input_name: str = "X"):
    """X of shape (n_samples, d1, d2, ...) as (n_samples, d1 * d2 * ...), where it lives.

    The one place skdse reshapes X: each sample's values, in C order (as
    ``torch.flatten(X, 1)`` and ``X.reshape(len(X), -1)``), become its
    features. NumPy, CuPy, PyTorch, dask (lazily) and any array-API array
    are reshaped by their own library; lists become NumPy arrays first. An X
    of rank 2 or less is returned as it is (a 1-D X stays the error of the
    checks that follow).

    Examples
    --------
    >>> import numpy as np
    >>> from skdse._engine.inputs import flatten_samples
    >>> flatten_samples(np.zeros((5, 3, 4, 4))).shape
    (5, 48)
    >>> flatten_samples(np.zeros(5)).shape
    (5,)
    """
    if not hasattr(X, "ndim") or not hasattr(X, "shape"):  # lists: NumPy's view of them
        with names_unreal_data(X, input_name):
            X = np.asarray(X)
    if X.ndim <= 2:
        return X
    if any(s is None or s != s for s in X.shape):  # a dask array's unknown (NaN) sizes
        raise ValueError(
            f"{input_name} has unknown dimensions (shape {tuple(X.shape)}), so it cannot be "
            f"flattened; call {input_name}.compute_chunk_sizes() first (a dask array)."
        )
    shape = (int(X.shape[0]), math.prod(int(s) for s in X.shape[1:]))
    return namespace(X).reshape(X, shape)


def check_sample_rank(X, input_name: str = "X") -> None:
    """Refuse an X of rank above 2 with a message that says how to flatten it.

    Functions and estimators alike take (n_samples, n_features); the
    functions' ``flatten=True`` reshapes N-D activations (:func:`flatten_samples`).

    Examples
    --------
    >>> import numpy as np
    >>> from skdse._engine.inputs import check_sample_rank
    >>> check_sample_rank(np.zeros((4, 2, 2)))
    Traceback (most recent call last):
        ...
    ValueError: Found array with dim 3 (shape (4, 2, 2)) for X, where a 2D array \
(n_samples, n_features) is expected. To use each sample's values as its features, flatten \
them: X.reshape(len(X), -1), or pass flatten=True to skdse's functions (the estimators \
take 2D X, as scikit-learn's do).
    """
    ndim = getattr(X, "ndim", None)
    if isinstance(ndim, int) and ndim > 2:
        raise ValueError(
            f"Found array with dim {ndim} (shape {tuple(X.shape)}) for {input_name}, where a "
            "2D array (n_samples, n_features) is expected. To use each sample's values as its "
            f"features, flatten them: {input_name}.reshape(len({input_name}), -1), or pass "
            "flatten=True to skdse's functions (the estimators take 2D X, as scikit-learn's do)."
        )


#: scikit-learn's ``check_array`` rules for host X (functions and estimators alike):
#: dense, float64, finite, 2-D, at least 2 rows and 1 feature.
HOST_X_RULES = dict(
    accept_sparse=False,
    dtype=np.float64,
    ensure_2d=True,
    ensure_min_samples=2,
    ensure_min_features=1,
    ensure_all_finite=True,
)


def check_local_X(X, input_name: str = "X"):
    """A finite, real, 2-D float64 array with at least 2 samples, where it lives.

    NumPy-convertible input (lists, pandas) goes through scikit-learn's
    ``check_array``; array-API arrays (CuPy, PyTorch, ...) keep their
    namespace and device and get the same checks. Sparse input is refused
    with a :class:`TypeError` that says to densify it.

    X is float64 whatever the ``dtype`` parameter of the measures: that is
    the precision of the stored operator only. The kernel takes its
    exponents in float64 anyway (:func:`skdse._engine.kernels.kernel_coordinates`);
    a float32 copy of X would round the data itself and turn values beyond
    float32's range (below 1e-38, above 3e38) into 0 or inf.

    Examples
    --------
    >>> from skdse._engine.inputs import check_local_X
    >>> check_local_X([[0, 1], [2, 3]]).dtype
    dtype('float64')
    """
    xp = namespace(X)
    if is_numpy(xp):
        with names_unreal_data(X, input_name):
            return check_array(X, input_name=input_name, **HOST_X_RULES)
    return _check_device_array(X, xp, input_name)


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


def symmetry_rtol(dtype) -> float:
    """The asymmetry tolerated in a precomputed affinity of ``dtype``, relative to ``max |G|``.

    ``sqrt(eps)`` of the user's floating dtype (float64 for integers and
    booleans, which are exact): 1.5e-8 for float64, 3.5e-4 for float32. A
    symmetric formula evaluated in floating point is asymmetric only through
    the order of its sums (a product or a sum of two numbers commutes
    exactly), such as the two halves of a ``Z @ Z.T`` taken by a blocked
    BLAS and then cancelled in a norm expansion: measured 0.5 units in the
    last place of ``max |G|`` for a Gaussian affinity of centred data,
    1.5e4 units (3e-12) for data 70 sigma from the origin (float64, N = 500,
    D = 50), far below ``sqrt(eps)`` (6.7e7 units of float64's last place,
    2900 of float32's). A matrix that is not
    symmetric (a directed kNN graph, a row-normalised ``D^-1 G``) is off by
    a fraction of ``max |G|`` itself. Within the tolerance G is used as
    given; the eigenvalues then move by about the asymmetry relative to the
    degrees (Weyl), far below the solvers' own error.

    Examples
    --------
    >>> import numpy as np
    >>> from skdse._engine.inputs import symmetry_rtol
    >>> float(symmetry_rtol(np.float32)) > float(symmetry_rtol(np.float64))
    True
    """
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        dtype = np.dtype(np.float64)
    return float(np.sqrt(np.finfo(dtype).eps))


def check_affinity_values(
    smallest: float, largest: float, asymmetry: float, rtol: float, input_name: str = "X"
) -> None:
    """Refuse an affinity with negative entries or not symmetric (its squareness: before).

    The one place the errors of ``affinity="precomputed"`` are worded; the
    statistics (``smallest`` entry, ``largest`` absolute entry, largest
    ``|G - G^T|``) are computed where G lives (:func:`check_local_affinity`,
    the cluster's :meth:`~skdse._engine.dask.ClusterPlacement.validate_affinity`).
    """
    what = f"{input_name} (affinity='precomputed')"
    if smallest < 0:
        raise ValueError(
            f"{what} has negative entries (the smallest is {smallest:.6g}): an affinity is a "
            "non-negative similarity. For a distance matrix D pass "
            "exp(-D**2 / (2 * sigma**2)); a correlation or a signed kernel is not an affinity."
        )
    if asymmetry > rtol * largest:
        raise ValueError(
            f"{what} is not symmetric: max |G - G.T| = {asymmetry:.3g}, beyond the "
            f"tolerance {rtol:.2g} * max |G| = {rtol * largest:.3g} (float rounding of a "
            "symmetric computation stays far below it). A directed graph such as "
            "sklearn's kneighbors_graph is not symmetric: pass 0.5 * (G + G.T) or "
            "G.maximum(G.T)."
        )


def check_square(shape, input_name: str) -> None:
    if len(shape) != 2 or shape[0] != shape[1]:
        raise ValueError(
            f"affinity='precomputed' needs {input_name} to be the square (n_samples, "
            f"n_samples) affinity between the samples; got shape {tuple(shape)}. Pass the "
            "data itself with affinity='gaussian' or 'knn'. (Cross-validation gives a pairwise "
            "estimator's score the test rows against the training columns: score the test "
            "points' own affinity, G[np.ix_(test, test)].)"
        )


#: Rows of an affinity compared with its columns at once in the symmetry check.
SYMMETRY_BLOCK = 1024


def check_local_affinity(X, input_name: str = "X"):
    """A precomputed affinity checked: as :func:`check_local_X`, and square, non-negative,
    symmetric within :func:`symmetry_rtol`. Where it lives, in float64.

    ``scipy.sparse`` matrices are accepted (as CSR, float64, on the host),
    so a kNN graph stays sparse. The symmetry check runs a block of rows at a
    time: no second N x N array.

    Examples
    --------
    >>> import numpy as np
    >>> from skdse._engine.inputs import check_local_affinity
    >>> check_local_affinity(np.array([[1, 0.5], [0.5, 1]])).shape
    (2, 2)
    >>> check_local_affinity(np.ones((2, 3)))
    Traceback (most recent call last):
        ...
    ValueError: affinity='precomputed' needs X to be the square (n_samples, n_samples) ...
    """
    import scipy.sparse as sp

    dtype = getattr(X, "dtype", None)
    rtol = symmetry_rtol(_numpy_dtype(dtype))
    if sp.issparse(X):
        G = check_array(
            X,
            accept_sparse="csr",
            dtype=np.float64,
            ensure_min_samples=2,
            ensure_all_finite=True,
            input_name=input_name,
        )
        check_square(G.shape, input_name)
        G = sp.csr_matrix(G)
        smallest = float(G.min())
        largest = float(abs(G).max())
        asymmetry = float(abs(G - G.T).max())
    else:
        shape = getattr(X, "shape", None)
        if shape is not None:
            check_square(tuple(shape), input_name)  # before anything is converted
        G = check_local_X(X, input_name)
        check_square(G.shape, input_name)
        xp = namespace(G)
        smallest = float(xp.min(G))
        largest = float(xp.max(xp.abs(G)))
        asymmetry = 0.0
        for a in range(0, G.shape[0], SYMMETRY_BLOCK):
            b = min(a + SYMMETRY_BLOCK, G.shape[0])
            diff = G[a:b, :] - xp.permute_dims(G[:, a:b], (1, 0))
            asymmetry = max(asymmetry, float(xp.max(xp.abs(diff))))
    check_affinity_values(smallest, largest, asymmetry, rtol, input_name)
    return G


def _numpy_dtype(dtype):
    """A NumPy dtype for any library's dtype (float32 tensors included); float64 if unknown."""
    if dtype is None:
        return np.float64
    try:
        return np.dtype(dtype)
    except TypeError:
        name = str(dtype).rsplit(".", 1)[-1]  # torch.float32 -> float32
        try:
            return np.dtype(name)
        except TypeError:
            return np.float64
