"""The few places that depend on the array library.

The numerical core is written once against the array API standard
(``array_api_compat.array_namespace``); what the standard does not cover lives
here: choosing and moving to a backend, the symmetric eigensolver, device
memory and the memory pool. CuPy and PyTorch are imported only when used.
"""

from __future__ import annotations

import functools
import sys

import numpy as np
from array_api_compat import array_namespace, is_cupy_namespace, is_numpy_namespace
from array_api_compat import is_torch_namespace as _is_torch_namespace

BACKENDS = ("auto", "numpy", "cupy")


def is_numpy(xp) -> bool:
    return is_numpy_namespace(xp)


def namespace(X):
    """The array namespace of X; NumPy for anything that is not an array-API array
    (lists, pandas frames, scipy.sparse: scikit-learn's checks handle those)."""
    try:
        return array_namespace(X)
    except TypeError:
        return array_namespace(np.empty(0))


def to_backend(X, backend: str):
    """Move X to the requested backend; ``"auto"`` leaves it where it is.

    Returns ``(xp, X)``. NumPy-convertible input (lists, pandas) stays as it
    is for ``"auto"``/``"numpy"`` (scikit-learn's checks convert it later).
    """
    if backend == "auto":
        return namespace(X), X
    if backend == "numpy":
        xp = namespace(X)
        return array_namespace(np.empty(0)), X if is_numpy_namespace(xp) else to_numpy(X)
    if backend == "cupy":
        try:
            import cupy
        except ImportError as exc:  # pragma: no cover - depends on the machine
            raise ImportError(
                "backend='cupy' needs CuPy and a CUDA GPU: pip install 'skdse[gpu]' "
                "(or the cupy-cudaXXx wheel matching your CUDA)."
            ) from exc
        X = cupy.asarray(to_numpy(X) if _is_torch(X) else X)
        return array_namespace(X), X
    raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}.")


def _is_torch(X) -> bool:
    return type(X).__module__.split(".")[0] == "torch"


def without_grad(X):
    """X cut from autograd when it is a torch tensor that requires grad; else X itself.

    skdse only reads X: a layer's output taken outside ``torch.no_grad()``
    would otherwise carry its graph through every operation and make torch
    warn at each conversion to a Python number.

    Examples
    --------
    >>> import numpy as np
    >>> from skdse._engine.backend import without_grad
    >>> X = np.ones((2, 2))
    >>> without_grad(X) is X
    True
    """
    if _is_torch(X) and getattr(X, "requires_grad", False):
        return X.detach()
    return X


def to_numpy(a) -> np.ndarray:
    """A NumPy copy (or view) of any supported array, on the host."""
    if isinstance(a, np.ndarray):
        return a
    mod = type(a).__module__.split(".")[0]
    if mod == "cupy":
        return a.get()
    if mod == "torch":
        return a.detach().cpu().numpy()
    if mod == "array_api_strict":
        return np.asarray(a._array)
    return np.asarray(a)


def eigvalsh(A, xp):
    """All eigenvalues of the symmetric ``A`` (ascending), on A's device.

    NumPy: LAPACK's MRRR driver (``syevr``, measured fastest here for
    eigenvalues only), in A's own memory (A is overwritten). CuPy:
    cuSOLVER's ``syevd``. Others: their ``linalg.eigvalsh``.
    """
    if is_numpy_namespace(xp):
        import scipy.linalg

        # A is symmetric, so A.T is the same matrix; it is Fortran-ordered,
        # which lets LAPACK work in A's memory instead of on a copy.
        return scipy.linalg.eigh(
            A.T, eigvals_only=True, overwrite_a=True, check_finite=False, driver="evr"
        )
    if is_cupy_namespace(xp):
        import cupy

        return cupy.linalg.eigvalsh(A)
    return xp.linalg.eigvalsh(A)


def releases_device_memory(fn):
    """Decorator: give cached GPU memory back once ``fn`` returns.

    Runs after ``fn``'s frame is gone, so copies it made (``backend="cupy"``
    moving NumPy input to the GPU) are released too. Only libraries already
    imported are touched; unused cached blocks are all it frees.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        finally:
            if "cupy" in sys.modules:
                _release_cupy()
            if "torch" in sys.modules:
                _release_torch()

    return wrapper


def _release_cupy() -> None:
    import cupy

    cupy.get_default_memory_pool().free_all_blocks()


def _release_torch() -> None:
    import torch

    if torch.cuda.is_initialized():  # never start CUDA just to empty its cache
        torch.cuda.empty_cache()


def free_memory(xp) -> None:
    """Give cached device memory back after a computation."""
    if is_cupy_namespace(xp):
        _release_cupy()
    elif _is_torch_namespace(xp):
        _release_torch()


def device_memory_bytes(xp, X) -> int | None:
    """Free memory on X's device (None for host arrays: ask the OS)."""
    if is_cupy_namespace(xp):
        import cupy

        free, _ = cupy.cuda.runtime.memGetInfo()
        return int(free + cupy.get_default_memory_pool().free_bytes())
    if _is_torch_namespace(xp) and getattr(X, "is_cuda", False):
        import torch

        free, _ = torch.cuda.mem_get_info(X.device)
        return int(
            free + torch.cuda.memory_reserved(X.device) - torch.cuda.memory_allocated(X.device)
        )
    return None


def take_rows(X, idx: np.ndarray):
    """Rows ``idx`` (a host integer array) of X, on X's device."""
    xp = namespace(X)
    if is_numpy_namespace(xp):
        return X[idx]
    from array_api_compat import device

    return xp.take(X, xp.asarray(idx, device=device(X)), axis=0)
