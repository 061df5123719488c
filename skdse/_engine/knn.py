"""The adaptive kNN affinity (``affinity="knn"``): neighbour search and its operator.

The exact search is scale-safe and breaks ties by the rows' values
(:func:`nearest_rows`), so the graph does not depend on the order of the
rows; the cluster's blockwise search (:func:`skdse._engine.dask.dask_knn_search`)
uses the same :func:`nearest_rows` and hands its result to :func:`knn_graph`.
Above :data:`APPROXIMATE_MIN` points (``neighbors="auto"``), or on request,
the search is approximate (:func:`approximate_search`, pynndescent's
NN-descent, an optional dependency), its candidates re-measured and ordered
as the exact search orders them.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .backend import namespace, to_numpy
from .kernels import KernelDiagnostics, scale_exponent

#: Default number of neighbours of the kNN operator.
N_NEIGHBORS = 15

#: Relative margin within which two neighbour distances may be a tie that the
#: neighbour search's rounding split: such candidates are all re-measured.
TIE_RTOL = 1e-6
#: Searches with at most this many (query, row, feature) differences measure every pair.
SMALL_SEARCH = 2**20

#: ``neighbors="auto"`` searches approximately above this many points (where
#: pynndescent is installed): there NN-descent, with its one-off numba
#: compilation (36-40 s per process), is as fast as the exact search. Measured
#: on a 2-core machine (benchmarks/bench_knn.py, Gaussian blobs, D = 64,
#: k = 15): exact / approximate search 14.3 / 6.1 s at N = 50000, 54 / 18 s
#: at 100000; counting the compilation, 14 / 42 s and 54 / 58 s.
APPROXIMATE_MIN = 100000
#: Size of the NN-descent graph: the approximate search keeps this many
#: candidates per point (at least twice the neighbours asked) and re-measures
#: them. Recall at k = 15 (blobs, D = 64): 30 gave 0.975 at N = 50000 and 0.947
#: at 100000; 40 gives 0.992 and 0.979, for 30 % more time.
APPROXIMATE_CANDIDATES = 40


def row_keys(X: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row's values: equal rows, equal keys, whatever their position.

    Orders neighbours tied at the same distance by value (then by index,
    which then only separates duplicated rows), so that a row permutation
    gives the same graph up to relabelling.

    Examples
    --------
    >>> import numpy as np
    >>> from skdse._engine.knn import row_keys
    >>> k = row_keys(np.array([[1.0, 2.0], [2.0, 1.0], [1.0, 2.0], [-0.0, 0.0], [0.0, 0.0]]))
    >>> bool(k[0] == k[2]), bool(k[0] == k[1]), bool(k[3] == k[4])
    (True, False, True)
    """
    values = np.asarray(X, dtype=np.float64) + 0.0  # -0.0 -> 0.0
    bits = np.ascontiguousarray(values).view(np.uint64)
    h = np.full(bits.shape[0], 0xCBF29CE484222325, dtype=np.uint64)
    for c in range(bits.shape[1]):  # FNV-1a over the 64-bit words, then a splitmix64 finish
        h = (h ^ bits[:, c]) * np.uint64(0x100000001B3)
    h = (h ^ (h >> np.uint64(33))) * np.uint64(0xFF51AFD7ED558CCD)
    return h ^ (h >> np.uint64(33))


def nearest_rows(
    Xq: np.ndarray, Xr: np.ndarray, k: int, offset: int = 0, exponent: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` rows of ``Xr`` nearest each row of ``Xq``, ties broken by value.

    scikit-learn's search proposes candidates; every candidate that may tie
    with the k-th (within :data:`TIE_RTOL`) is kept, all are re-measured
    from their differences (so the same pair always gets the same distance,
    and a row's distance to itself is exactly 0) and ordered by (distance,
    :func:`row_keys`, index). The search runs on the rows scaled by
    ``2**-exponent`` (default: from the largest value of either, so nothing
    over- or underflows); distances are scaled back exactly (inf only past
    the largest float). Returns distances, indices plus ``offset`` and the
    neighbours' keys, each of shape (n_queries, k).

    Examples
    --------
    >>> import numpy as np
    >>> from skdse._engine.knn import nearest_rows
    >>> X = np.array([[0.0], [-1.0], [1.0], [5.0]])
    >>> dist, idx, _ = nearest_rows(X[:1], X, 2)  # -1 and 1 tie at distance 1
    >>> dist.tolist(), X[idx[0], 0].tolist()
    ([[0.0, 1.0]], [0.0, 1.0])
    >>> P = X[[0, 2, 1, 3]]  # the rows in another order: the same neighbour, by value
    >>> P[nearest_rows(P[:1], P, 2)[1][0], 0].tolist()
    [0.0, 1.0]
    """
    from sklearn.neighbors import NearestNeighbors

    nq, nr = Xq.shape[0], Xr.shape[0]
    k = min(k, nr)
    keys = row_keys(Xr)
    if exponent is None:
        exponent = scale_exponent(max(float(np.max(np.abs(a))) for a in (Xq, Xr)))
    Xq, Xr = (np.ldexp(np.asarray(a, dtype=np.float64), -exponent) for a in (Xq, Xr))
    if nq * nr * Xr.shape[1] <= SMALL_SEARCH:  # every pair, measured directly
        dist, idx = _closest(Xq, Xr, np.broadcast_to(np.arange(nr), (nq, nr)), keys, k)
    else:
        centre = Xr.mean(axis=0)
        R, Q = Xr - centre, Xq - centre
        slack = 1e-7 * float(np.sqrt(np.max(np.einsum("ij,ij->i", R, R))))
        search = NearestNeighbors().fit(R)
        dist = np.empty((nq, k))
        idx = np.empty((nq, k), dtype=np.intp)
        todo, m = np.arange(nq), min(k + 2, nr)
        while todo.size:  # more candidates for the rows whose last ones may still tie
            d, j = search.kneighbors(Q[todo], n_neighbors=m)
            done = (d[:, -1] > d[:, k - 1] * (1 + TIE_RTOL) + slack) | (m == nr)
            rows = todo[done]
            dist[rows], idx[rows] = _closest(Xq[rows], Xr, j[done], keys, k)
            todo, m = todo[~done], min(2 * m, nr)
    with np.errstate(over="ignore"):
        dist = np.ldexp(dist, exponent)
    return dist, idx + offset, keys[idx]


def _closest(Xq, Xr, cand, keys, k, invalid=None):
    """Of the candidate rows ``cand`` of each query, the ``k`` first by (distance, key, index).

    Candidates marked ``invalid`` (repeats, missing ones) are placed last.
    """
    exact = np.empty(cand.shape)
    step = max(1, 2**22 // max(cand.shape[1] * Xr.shape[1], 1))
    for a in range(0, cand.shape[0], step):
        diff = Xq[a : a + step, None, :] - Xr[cand[a : a + step]]
        exact[a : a + step] = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
    if invalid is not None:
        exact[invalid] = np.inf
    order = np.lexsort((cand, keys[cand], exact), axis=1)[:, :k]
    return np.take_along_axis(exact, order, 1), np.take_along_axis(cand, order, 1)


def resolve_neighbors(n: int, neighbors: str) -> str:
    """``"exact"`` or ``"approximate"``: the neighbour search that runs on ``n`` points.

    ``"auto"`` searches approximately above :data:`APPROXIMATE_MIN` points
    where pynndescent is installed, exactly otherwise: below it the exact
    search is no slower once pynndescent's one-off compilation is counted,
    and its graph does not depend on the order of the rows.

    Examples
    --------
    >>> from skdse._engine.knn import resolve_neighbors
    >>> resolve_neighbors(1000, "auto"), resolve_neighbors(1000, "approximate")
    ('exact', 'approximate')
    """
    if neighbors != "auto":
        return neighbors
    return "approximate" if n > APPROXIMATE_MIN and has_pynndescent() else "exact"


def has_pynndescent() -> bool:
    """Whether the approximate search's library, pynndescent, can be imported."""
    try:
        _pynndescent()
    except ImportError:
        return False
    return True


def _pynndescent():
    try:
        import pynndescent
    except ImportError as exc:
        raise ImportError(
            "neighbors='approximate' needs pynndescent, which is not installed: "
            "pip install pynndescent (or pip install 'skdse[knn]'), or pass "
            "neighbors='exact'."
        ) from exc
    return pynndescent


def approximate_search(
    X: np.ndarray,
    n_neighbors: int = N_NEIGHBORS,
    random_state: int | None = None,
    n_threads: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`knn_search` by NN-descent (pynndescent): approximate, for large N.

    pynndescent proposes :data:`APPROXIMATE_CANDIDATES` candidates per point
    (at least ``2 * (n_neighbors + 1)``), on X scaled by a power of two and
    centred (so its float32 arithmetic neither over- nor underflows); the
    point itself is always a candidate. As in :func:`nearest_rows`, every
    candidate is re-measured from its differences in float64 and the
    candidates are ordered by (distance, :func:`row_keys`, index), so a
    pair's distance is exact, a point's distance to itself is 0 and the
    point (or a duplicate) stands first. On fewer points than that, every
    point is a candidate: the exact search runs.

    NN-descent runs on ``n_threads`` numba threads (at most numba's
    ``NUMBA_NUM_THREADS``). Its graph depends on the number of threads (its
    parallel updates: 11 % of the rows' candidate lists differed between 1
    and 2 threads at N = 3000), so, as in UMAP, a seeded search runs on one
    thread: with ``n_threads=1`` and an int ``random_state`` the graph is
    the same on every machine. :func:`skdse._engine.solve.solve` asks for
    one thread when the user gave ``random_state``, for ``n_jobs``'s CPUs
    when not.

    What it cannot promise: a true neighbour that NN-descent did not propose
    is missed (recall below 1: measured >= 0.95 at the defaults, see
    benchmarks/bench_knn.py), so points tied at the k-th distance may be
    split differently, and the graph depends on ``random_state``, on the
    order of the rows (NN-descent's random start) and, with more than one
    thread, on the number of threads, not only on the values.

    Examples
    --------
    >>> import numpy as np
    >>> from skdse._engine.knn import approximate_search, knn_search
    >>> X = np.random.default_rng(0).normal(size=(300, 4))
    >>> dist, idx = approximate_search(X, 5, random_state=0)  # doctest: +SKIP
    >>> bool((idx[:, 0] == np.arange(300)).all()), dist.shape  # doctest: +SKIP
    (True, (300, 6))
    """
    NNDescent = _pynndescent().NNDescent
    import numba  # pynndescent's own dependency

    n = X.shape[0]
    k = min(n_neighbors, n - 1) + 1
    size = max(APPROXIMATE_CANDIDATES, 2 * k) + 1  # NN-descent's graph holds the point itself
    if size >= n:  # every point is a candidate: the exact search
        return knn_search(X, n_neighbors, "exact")
    keys = row_keys(X)
    exponent = scale_exponent(float(np.max(np.abs(X))))
    Xs = np.ldexp(np.asarray(X, dtype=np.float64), -exponent)
    index = NNDescent(
        (Xs - Xs.mean(axis=0)).astype(np.float32),
        n_neighbors=size,
        random_state=random_state,
        n_jobs=max(1, min(int(n_threads), numba.config.NUMBA_NUM_THREADS)),
    )
    found = index.neighbor_graph[0]
    cand = np.concatenate([np.arange(n)[:, None], found], axis=1)
    missing = cand < 0
    cand[missing] = np.arange(n).repeat(missing.sum(axis=1))  # placed last as repeats
    cand.sort(axis=1)
    repeat = np.zeros(cand.shape, dtype=bool)
    repeat[:, 1:] = cand[:, 1:] == cand[:, :-1]
    dist, idx = _closest(Xs, Xs, cand, keys, k, invalid=repeat)
    with np.errstate(over="ignore"):
        dist = np.ldexp(dist, exponent)
    return dist, idx


def knn_search(
    X: np.ndarray,
    n_neighbors: int = N_NEIGHBORS,
    neighbors: str = "exact",
    random_state: int | None = None,
    n_threads: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Distances and indices of each point's ``n_neighbors + 1`` nearest points (itself first).

    Ties at equal distance are broken by the rows' values (:func:`nearest_rows`),
    so the graph does not depend on the order of the rows; a duplicate of a
    point may stand first in its place, at distance 0. ``neighbors``
    chooses the search (:func:`resolve_neighbors`); the approximate one
    (:func:`approximate_search`) is seeded with ``random_state`` and runs on
    ``n_threads`` threads (one: the same graph on every machine).
    """
    if resolve_neighbors(X.shape[0], neighbors) == "approximate":
        return approximate_search(X, n_neighbors, random_state, n_threads)
    k = min(n_neighbors, X.shape[0] - 1)
    dist, idx, _ = nearest_rows(X, X, k + 1)
    return dist, idx


def knn_graph(dist: np.ndarray, idx: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    """The adaptive affinity of :func:`knn_affinity` from a neighbour search.

    ``dist`` and ``idx`` of shape (n_samples, k + 1) hold each point's
    nearest points, the point itself (or a duplicate at distance 0) first,
    however they were found (one machine or a cluster's blocks).
    """
    n, k = dist.shape[0], dist.shape[1] - 1
    if not np.isfinite(dist).all():
        raise ValueError(
            "Neighbour distances of X overflow float64 (X spans a range close to the "
            "largest float); rescale X (the kNN affinity does not change)."
        )
    sigmas = dist[:, k].copy()
    positive = sigmas[sigmas > 0]
    floor = positive.min() if positive.size else 1.0
    sigmas[sigmas <= 0] = floor  # a point with k duplicates: smallest positive scale
    # The affinity of each (point, neighbour) pair is symmetric in the pair
    # (both distances are the same arithmetic on the same rows); the union
    # with the transpose keeps every pair where either point is among the
    # other's neighbours.
    rows = np.repeat(np.arange(n), k + 1)
    cols, d = idx.ravel(), dist.ravel()
    w = np.exp(-0.5 * (d / sigmas[rows]) * (d / sigmas[cols]))  # no under- or overflow
    W = sp.csr_matrix((w, (rows, cols)), shape=(n, n))
    G = W.maximum(W.T).tocsr()
    G.setdiag(1.0)
    return G, sigmas


def knn_affinity(
    X: np.ndarray,
    n_neighbors: int = N_NEIGHBORS,
    neighbors: str = "exact",
    random_state: int | None = None,
    n_threads: int = 1,
) -> tuple[sp.csr_matrix, np.ndarray]:
    """Sparse adaptive Gaussian affinity on the symmetrised kNN graph.

    ``sigma_i`` is the distance from ``x_i`` to its ``n_neighbors``-th
    neighbour; ``G_ij = exp(-||x_i - x_j||^2 / (2 sigma_i sigma_j))`` for
    every pair where either point is among the other's neighbours, 0
    elsewhere, and ``G_ii = 1``. Symmetric by construction.

    Returns
    -------
    G : csr_matrix of shape (n_samples, n_samples)
    sigmas : ndarray of shape (n_samples,)
    """
    return knn_graph(*knn_search(X, n_neighbors, neighbors, random_state, n_threads))


class KnnOperator:
    """Sparse diffusion operator ``D^-1/2 G D^-1/2`` of an adaptive kNN affinity G.

    Built from the affinity and its per-point widths (:func:`knn_graph`),
    however the neighbours were found: :func:`knn_operator` searches in
    memory, the cluster searches blockwise. Applied on the host with
    scipy.sparse.

    Examples
    --------
    >>> import numpy as np
    >>> from skdse._engine.knn import knn_operator
    >>> op = knn_operator(np.random.default_rng(0).normal(size=(30, 2)), 5)
    >>> op.n, op.toarray().shape
    (30, (30, 30))
    """

    def __init__(self, G: sp.csr_matrix, sigmas: np.ndarray):
        self.xp = namespace(np.empty(0))
        self.sigmas = sigmas
        self.degrees = np.asarray(G.sum(axis=1)).ravel()
        s = 1.0 / np.sqrt(self.degrees)
        self.A = sp.csr_matrix(G.multiply(s[:, None]).multiply(s[None, :]))
        self.n = G.shape[0]
        self.diagnostics = KernelDiagnostics.from_degrees(self.degrees)

    def matmat(self, V: np.ndarray) -> np.ndarray:
        return self.A @ V

    def toarray(self) -> np.ndarray:
        return self.A.toarray()


def knn_operator(
    X,
    n_neighbors: int = N_NEIGHBORS,
    neighbors: str = "exact",
    random_state: int | None = None,
    n_threads: int = 1,
) -> KnnOperator:
    """The :class:`KnnOperator` of X (any array library; the search runs on the host,
    an approximate one on ``n_threads`` threads)."""
    X = to_numpy(X).astype(np.float64, copy=False)
    return KnnOperator(*knn_affinity(X, n_neighbors, neighbors, random_state, n_threads))
