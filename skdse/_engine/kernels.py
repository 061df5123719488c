"""Bandwidth, Gaussian affinity and the symmetric diffusion operator.

The operator is ``A = D^-1/2 G D^-1/2`` with ``G_ij = exp(-||x_i - x_j||^2 /
(2 sigma^2))`` and ``D = diag(G 1)``. It has the eigenvalues of the diffusion
matrix ``P = D^-1 G``, is symmetric, and is built in one N x N buffer, a row
block at a time, with array-API operations on whatever device X lives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from array_api_compat import device
from sklearn.utils import check_random_state

from .backend import is_numpy, namespace, take_rows, to_numpy

#: Rows of the distance matrix computed at once; keeps each block in cache.
BLOCK_ROWS = 256
#: Points used to estimate the median pairwise distance.
MEDIAN_MAX_POINTS = 2000
#: Mean off-diagonal affinity above which the kernel is "all ones".
WIDE_AFFINITY = 0.99
#: Mean off-diagonal affinity mass per point below which points are isolated.
NARROW_MASS = 0.01


def scale_exponent(m: float) -> int:
    """``e`` with ``m < 2**e <= 2 m`` (0 for ``m = 0``): values up to m scaled by ``2**-e`` lie
    in [-1, 1], exactly, so squares and sums of them neither over- nor underflow."""
    return math.frexp(m)[1] if m > 0 else 0


def times_power_of_two(Y, k: int):
    """``Y * 2**k`` exactly, for any integer ``k`` (in two factors where ``2**k`` itself
    is beyond float64, as for subnormal data near 1e-310)."""
    if k == 0:
        return Y
    half = k // 2
    if abs(k) <= 1000:
        return Y * math.ldexp(1.0, k)
    return (Y * math.ldexp(1.0, half)) * math.ldexp(1.0, k - half)


def rescaled(X, xp=None, centre: bool = True):
    """X scaled by a power of two into [-1, 1] (and centred), in float64: ``(Y, e)``.

    ``X = 2**e * Y`` exactly (``X - mean(X)`` up to the rounding of the
    centring): the power of two is exact, so nothing overflows or
    underflows on the way (X near 1.8e308 or 1e-300, float32 X near its own
    limits) and quantities derived from Y scale back with ``math.ldexp``.
    ``e`` is 0 for an all-zero X. Centring costs the digits of points close
    together far from the mean (one far outlier moves the mean): differences
    of rows are taken on the uncentred Y.

    Examples
    --------
    >>> import numpy as np
    >>> from skdse._engine.kernels import rescaled
    >>> X = np.array([[3.0], [-1.0]])
    >>> rescaled(X)[0].ravel().tolist(), rescaled(X)[1], rescaled(2.0**1000 * X)[1]
    ([0.5, -0.5], 2, 1002)
    """
    xp = namespace(X) if xp is None else xp
    Xf = xp.astype(X, xp.float64)
    e = scale_exponent(float(xp.max(xp.abs(Xf))))
    Y = times_power_of_two(Xf, -e)
    return (Y - xp.mean(Y, axis=0) if centre else Y), e


def _scale_back(value: float, e: int, what: str) -> float:
    try:
        out = math.ldexp(value, e)
    except OverflowError:
        out = math.inf
    if not math.isfinite(out):
        raise ValueError(
            f"bandwidth={what!r} resolves to a sigma beyond float64 ({value:.3g} * 2**{e}): "
            "X spans a range close to the largest float. Rescale X (the measure does not "
            "change) or pass a float bandwidth."
        )
    return out


def resolve_bandwidth(X, bandwidth, *, random_state=None) -> float:
    """Turn a bandwidth specification into a positive float sigma.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        Validated data, on any array-API backend.
    bandwidth : float, "scale" or "median"
        A float is returned as is. ``"scale"`` follows scikit-learn's SVC
        convention ``gamma = 1 / (n_features * X.var())``, that is
        ``2 sigma^2 = n_features * X.var()``, computed after centring each
        feature: ``2 sigma^2 = sum_j Var(X[:, j])``, the total variance (half
        the mean squared pairwise distance). Centring makes it invariant to
        rotating and translating X, which the pooled ``X.var()`` is not.
        ``"median"`` is the median pairwise Euclidean distance, on a seeded
        subsample of at most 2000 points (zero distances from duplicated
        points are left out when they are the majority). Both are computed
        on X rescaled by a power of two (:func:`rescaled`), so they scale
        with X at any magnitude, and duplicated rows are at distance exactly 0.
    random_state : int, RandomState instance or None
        Seeds the subsample of ``"median"``.

    Returns
    -------
    sigma : float
        1.0 when the data has no spread (every row equal).

    Raises
    ------
    ValueError
        When sigma itself overflows float64 (X near 1e308 in many features).

    Examples
    --------
    >>> import numpy as np
    >>> from skdse._engine.kernels import resolve_bandwidth
    >>> X = np.array([[0.0, 0.0], [3.0, 4.0]])
    >>> resolve_bandwidth(X, "median"), resolve_bandwidth(1e300 * X, "median")
    (5.0, 5e+300)
    """
    if not isinstance(bandwidth, str):
        return float(bandwidth)
    xp = namespace(X)
    if bandwidth == "scale":
        e = scale_exponent(float(xp.max(xp.abs(xp.astype(X, xp.float64)))))
        return scale_sigma(float(half_total_variance(X, e, xp)), e)
    # "median": on the host, from at most MEDIAN_MAX_POINTS rows.
    idx = median_rows(X.shape[0], random_state)
    if idx is not None:
        X = take_rows(X, idx)
    Y, e = rescaled(to_numpy(X).astype(np.float64), centre=False)
    # Distinct rows and their counts: duplicates are at distance exactly 0.
    U, counts = np.unique(Y + 0.0, axis=0, return_counts=True)
    if U.shape[0] == 1:
        return 1.0
    iu = np.triu_indices(U.shape[0], k=1)
    d = np.sqrt(squared_distances_host(U)[iu])
    w = (counts[:, None] * counts[None, :])[iu].astype(np.float64)
    n_zero = float(np.sum(counts * (counts - 1)) / 2)
    med = _weighted_median(np.r_[0.0, d], np.r_[n_zero, w])
    if med <= 0:
        med = _weighted_median(d, w)
    return _scale_back(med, e, bandwidth)


def half_total_variance(X, e: int, xp):
    """``sum_j Var(X[:, j]) / 2`` of X scaled by ``2**-e`` (``e`` from :func:`scale_exponent`
    of ``max |X|``), so nothing overflows; lazy for a lazy X (a dask array)."""
    Y = times_power_of_two(xp.astype(X, xp.float64), -e)
    Yc = Y - xp.mean(Y, axis=0)
    return xp.sum(xp.mean(Yc * Yc, axis=0)) / 2.0


def scale_sigma(v: float, e: int) -> float:
    """The ``"scale"`` bandwidth from :func:`half_total_variance` ``v`` of X scaled by ``2**-e``."""
    return _scale_back(math.sqrt(v), e, "scale") if v > 0 else 1.0


def median_rows(n: int, random_state=None):
    """The seeded rows the ``"median"`` bandwidth is taken on: None (all) up to
    :data:`MEDIAN_MAX_POINTS` rows, else a sorted uniform subsample of that many."""
    if n <= MEDIAN_MAX_POINTS:
        return None
    rng = check_random_state(random_state)
    return np.sort(rng.choice(n, MEDIAN_MAX_POINTS, replace=False))


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """``np.median`` of ``values`` each repeated ``weights`` (whole numbers) times."""
    order = np.argsort(values, kind="stable")
    v, cw = values[order], np.cumsum(weights[order])
    total = cw[-1]
    lo = v[np.searchsorted(cw, (total - 1) // 2, side="right")]
    hi = v[np.searchsorted(cw, total // 2, side="right")]
    return float((lo + hi) / 2)


def squared_distances_host(Y: np.ndarray) -> np.ndarray:
    """All pairwise squared distances of the rows of a small float64 NumPy Y, accurately.

    The norm expansion of the centred rows in one matrix product, then every
    pair where it has cancelled (distance below 1e-4 of the norms, so
    rounding could be more than 1e-12 of it) recomputed from the direct
    differences of the rows as given: identical rows get exactly 0 and near
    pairs far from the origin or the mean keep their digits.
    """
    Z = Y - Y.mean(axis=0)
    sq = np.einsum("ij,ij->i", Z, Z)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * (Z @ Z.T), 0.0)
    i, j = np.nonzero(np.triu(d2 <= 1e-4 * (sq[:, None] + sq[None, :]), k=1))
    step = max(1, 2**22 // max(Y.shape[1], 1))
    for a in range(0, i.size, step):
        ii, jj = i[a : a + step], j[a : a + step]
        diff = Y[ii] - Y[jj]
        d2[ii, jj] = d2[jj, ii] = np.einsum("ij,ij->i", diff, diff)
    np.fill_diagonal(d2, 0.0)
    return d2


#: Largest rounding error tolerated in a kernel exponent ``-|z_i - z_j|^2`` taken
#: by the norm expansion, whose error is about ``4 eps max_i |z_i|^2``: float32
#: kernels (affinities to 1e-4 relative, far below slq's own error) and float64
#: ones. Beyond these the exponent comes from direct differences.
EXPONENT_TOL = {"float32": 1e-4, "float64": 1e-9}


def _direct_sq_distances(A, B, xp):
    """``|a_i - b_j|^2`` from the differences themselves (no cancellation)."""
    if is_numpy(xp):
        from scipy.spatial.distance import cdist

        return cdist(A, B, "sqeuclidean")
    out = xp.zeros((A.shape[0], B.shape[0]), dtype=A.dtype, device=device(A))
    for k in range(A.shape[1]):
        diff = A[:, k][:, None] - B[:, k][None, :]
        out = out + diff * diff
    return out


def kernel_exponent(Li, Rj, method: str, gamma: float, xp=None):
    """The block ``-|z_i - z_j|^2`` (<= 0) of rows Li and columns Rj of :class:`KernelCoordinates`.

    Module-level so that cluster tasks call it on their NumPy blocks.
    """
    xp = namespace(Li) if xp is None else xp
    if method != "direct":
        E = Li @ Rj.T
        if is_numpy(xp):
            return np.minimum(E, 0.0, out=E)
        return xp.clip(E, max=0.0)
    r = _direct_sq_distances(Li, Rj, xp)
    if math.isinf(gamma):  # vanishing bandwidth: every distinct pair at affinity 0
        return xp.where(r > 0, xp.full_like(r, -math.inf), xp.zeros_like(r))
    return -(r * gamma)


def kernel_block(Li, Rj, method: str, gamma: float, out_dtype, xp=None):
    """The Gaussian kernel block ``exp(kernel_exponent(Li, Rj))``, stored in ``out_dtype``.

    The one place a kernel block is formed, for the dense, matrix-free and
    Dask operators alike (module-level, so cluster tasks call it on their
    NumPy blocks).
    """
    xp = namespace(Li) if xp is None else xp
    return xp.exp(xp.astype(kernel_exponent(Li, Rj, method, gamma, xp), out_dtype, copy=False))


@dataclass(frozen=True)
class KernelCoordinates:
    """The rows of X placed so that the Gaussian kernel is ``kernel_block(L_i, R_j)``.

    ``method`` says how the exponent ``-|x_i - x_j|^2 / (2 sigma^2)`` is taken:

    - ``"float32"`` / ``"float64"``: with ``z = (x - mean) / (sigma sqrt 2)``,
      ``L = [2z, -|z|^2, -1]`` and ``R = [z, 1, |z|^2]`` in that dtype and
      one matrix product (the norm expansion), chosen only while its rounding
      error, about ``4 eps max|z|^2``, stays below :data:`EXPONENT_TOL`;
    - ``"direct"``: ``L = R = W``, X rescaled by a power of two and then by
      ``2**e / (sigma sqrt 2)`` (not centred, float64; ``gamma = 1``), and
      ``-|w_i - w_j|^2`` from the differences, so near pairs far from the
      origin keep their digits and far pairs overflow to affinity 0. Where
      that factor itself overflows (a vanishing bandwidth), ``W`` is the
      rescaled X and ``gamma = inf``: the limit, distinct rows at affinity
      0 and duplicates at 1.
    """

    L: object
    R: object
    method: str
    gamma: float

    @property
    def n(self) -> int:
        return self.L.shape[0]

    def block(self, start: int, stop: int, c0: int, c1: int, out_dtype):
        """Rows ``start:stop`` and columns ``c0:c1`` of the kernel (:func:`kernel_block`)."""
        L, R = self.L[start:stop, ...], self.R[c0:c1, ...]
        return kernel_block(L, R, self.method, self.gamma, out_dtype)


def kernel_coordinates(X, sigma: float, dtype=None) -> KernelCoordinates:
    """:class:`KernelCoordinates` of X at bandwidth sigma for a kernel stored in ``dtype``.

    X is rescaled by a power of two and centred first (:func:`rescaled`) and
    divided by sigma before anything is squared, so neither the data's
    magnitude nor sigma's overflows. float32 is used for the distances only
    when ``dtype`` is float32 and the expansion is accurate there; otherwise
    float64, and the direct differences when even float64 would cancel.

    Examples
    --------
    >>> import numpy as np
    >>> from skdse._engine.kernels import kernel_coordinates
    >>> X = np.random.default_rng(0).normal(size=(6, 2))
    >>> kernel_coordinates(X, 1.0, np.float32).method
    'float32'
    >>> X[:3, 0] += 1e4  # clusters far apart: float32 would cancel
    >>> kernel_coordinates(X, 10.0, np.float32).method
    'float64'
    >>> kernel_coordinates(X, 1e-300).method  # vanishing bandwidth: its limit
    'direct'
    """
    xp = namespace(X)
    dtype = X.dtype if dtype is None else dtype
    Y, e = rescaled(X, xp, centre=False)
    Yc = Y - xp.mean(Y, axis=0)
    # f = 2**e / (sigma sqrt 2), with sigma's exponent taken out first
    mant, es = math.frexp(float(sigma))
    try:
        f = np.float64(math.ldexp(1.0, e - es) / (mant * math.sqrt(2.0)))
    except OverflowError:
        f = np.float64(math.inf)
    with np.errstate(over="ignore"):
        ymax2 = np.float64(float(xp.max(xp.sum(Yc * Yc, axis=1))))
        zmax2 = ymax2 * f * f if ymax2 > 0 else np.float64(0.0)
    single = dtype == xp.float32
    for method, eps in (("float32", 1.2e-7), ("float64", 2.3e-16)):
        if (method == "float64" or single) and 4.0 * eps * zmax2 <= EXPONENT_TOL[method]:
            Z = Yc * float(f)
            sq = xp.sum(Z * Z, axis=1)[:, None]
            ones = xp.ones_like(sq)
            cast = xp.float32 if method == "float32" else xp.float64
            # [2z, -|z|^2, -1] . [z, 1, |z|^2] = -|z_i - z_j|^2
            L = xp.astype(xp.concat([2.0 * Z, -sq, -ones], axis=1), cast)
            R = xp.astype(xp.concat([Z, ones, sq], axis=1), cast)
            return KernelCoordinates(L, R, method, 1.0)
    if math.isfinite(f):  # |Y| <= 1, so Y * f is finite: differences overflow to inf at worst
        W = Y * float(f)
        return KernelCoordinates(W, W, "direct", 1.0)
    return KernelCoordinates(Y, Y, "direct", math.inf)


@dataclass(frozen=True)
class KernelDiagnostics:
    """Summary of the off-diagonal affinities, read from the degrees.

    ``mean_affinity`` is the mean off-diagonal affinity (1 when every point
    looks the same to the kernel); ``mean_mass`` is the mean total affinity a
    point gives to the others (0 when every point is isolated).
    """

    n_samples: int
    mean_affinity: float
    mean_mass: float
    all_duplicates: bool = False

    @classmethod
    def from_degrees(cls, degrees):
        n = degrees.shape[0]
        mass = float(namespace(degrees).mean(degrees)) - 1.0
        return cls(n, mass / (n - 1) if n > 1 else 0.0, mass)

    def problem(self) -> str | None:
        """``"wide"``, ``"narrow"`` or None."""
        if self.n_samples < 3 or self.all_duplicates:
            return None
        if self.mean_affinity > WIDE_AFFINITY:
            return "wide"
        if self.mean_mass < NARROW_MASS:
            return "narrow"
        return None


def gaussian_affinity(X, sigma: float, dtype=None):
    """The Gaussian affinity ``G`` of X at bandwidth sigma and its row sums, on X's device.

    One N x N array of ``dtype`` (default X's floating dtype) is allocated
    and filled a row block at a time; temporaries stay one block in size.
    The exponents come from :func:`kernel_coordinates` (accurate distances,
    no overflow); the diagonal is exactly 1 and the degrees are summed in
    float64 whatever ``dtype``. A vanishing sigma gives its limit (the
    identity, with duplicated rows forming blocks of ones).

    Returns
    -------
    G : array of shape (n_samples, n_samples)
    degrees : array of shape (n_samples,)

    Examples
    --------
    >>> import numpy as np
    >>> from skdse._engine.kernels import gaussian_affinity
    >>> G, d = gaussian_affinity(np.array([[0.0], [0.0], [1.0]]), 1e-300)
    >>> G.tolist(), d.tolist()
    ([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]], [2.0, 2.0, 1.0])
    """
    xp = namespace(X)
    dtype = X.dtype if dtype is None else dtype
    dev = device(X)
    coords = kernel_coordinates(X, sigma, dtype)
    n = X.shape[0]
    G = xp.empty((n, n), dtype=dtype, device=dev)
    degrees = xp.empty((n,), dtype=xp.float64, device=dev)
    cols = xp.arange(n, device=dev)[None, :]
    for start in range(0, n, BLOCK_ROWS):
        stop = min(start + BLOCK_ROWS, n)
        blk = coords.block(start, stop, 0, n, dtype)
        rows = xp.arange(start, stop, device=dev)[:, None]
        blk = xp.where(rows == cols, xp.ones_like(blk), blk)
        G[start:stop, :] = blk
        degrees[start:stop] = xp.sum(xp.astype(blk, xp.float64), axis=1)
    return G, degrees


def diffusion_operator(X, sigma: float, dtype=None):
    """Dense symmetric diffusion operator of ``X`` at bandwidth ``sigma``.

    Written against the array API: X may be a NumPy, CuPy, PyTorch or any
    standard-conforming array, and A is computed on X's device, in the one
    N x N buffer of :func:`gaussian_affinity` (``dtype``, default X's
    floating dtype), scaled in place a row block at a time.

    Returns
    -------
    A : array of shape (n_samples, n_samples)
        ``D^-1/2 G D^-1/2``, eigenvalues in [0, 1] up to rounding.
    degrees : array of shape (n_samples,)
        ``d = G 1`` in float64, on X's device.

    Examples
    --------
    >>> import numpy as np
    >>> from skdse._engine.kernels import diffusion_operator
    >>> A, d = diffusion_operator(np.array([[0.0], [1.0]]), 1.0)
    >>> a = np.exp(-0.5)  # the off-diagonal affinity
    >>> bool(np.allclose(np.linalg.eigvalsh(A), [(1 - a) / (1 + a), 1.0]))
    True
    """
    xp = namespace(X)
    A, degrees = gaussian_affinity(X, sigma, dtype)
    return scale_in_place(A, xp.astype(1.0 / xp.sqrt(degrees), A.dtype)), degrees


def scale_in_place(A, s):
    """``A * s[:, None] * s[None, :]`` in A's own memory, a row block at a time: the
    symmetric normalisation ``D^-1/2 G D^-1/2`` with ``s = 1 / sqrt(d)``, no N x N temporary."""
    n = A.shape[0]
    for start in range(0, n, BLOCK_ROWS):
        stop = min(start + BLOCK_ROWS, n)
        A[start:stop, :] = A[start:stop, :] * s[start:stop, None] * s[None, :]
    return A
