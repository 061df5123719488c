"""The kNN operator on a Dask cluster: search, graph and products stay there.

Most checks run on Dask's synchronous scheduler (the same tasks, in this
process); the client-memory check needs worker processes (a LocalCluster of
2 processes, 1 thread each), the approximate search a LocalCluster in this
process (pynndescent's numba code compiles once per process: tens of seconds,
shared with tests/test_knn_search.py when they run in the same process).
"""

import tracemalloc

import numpy as np
import pytest
from sklearn.datasets import make_blobs

import skdse
from skdse._engine.knn import knn_operator
from skdse._engine.placement import placement_of

from ._cluster import local_cluster

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

pytestmark = [
    pytest.mark.xdist_group("dask_knn"),
    pytest.mark.filterwarnings("ignore:Port 8787 is already in use"),
]

N, K = 600, 10
X_NP = np.random.default_rng(0).normal(size=(N, 6)) + np.repeat(np.eye(6)[:3] * 4, N // 3, axis=0)
V_NP = np.random.default_rng(1).normal(size=(N, 5))
# same rows, same search, same graph and the same sums in the same order: the
# products agree to rounding at most (measured: bit for bit)
RTOL = 1e-12
LAYOUTS = {
    "even": (150,) * 4,
    "uneven": (37, 263, 1, 299),
    "single": (N,),
    "rows-in-random-order": (100,) * 6,
}


@pytest.fixture(scope="module")
def reference():
    return knn_operator(X_NP, K)


def _close(a, b):
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=RTOL * np.abs(b).max())


def _cluster_knn(X, *args):
    return placement_of(X).knn_operator(X, *args)


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_matmat_degrees_and_toarray_equal_the_in_memory_operator(reference, layout):
    chunks = LAYOUTS[layout]
    X_np, ref = X_NP, reference
    if layout == "rows-in-random-order":  # every row block touches every column chunk
        X_np = X_NP[np.random.default_rng(2).permutation(N)]
        ref = knn_operator(X_np, K)
    X = da.from_array(X_np, chunks=(chunks, 6))
    with dask.config.set(scheduler="synchronous"):
        op = _cluster_knn(X, K)
        assert op.row_chunks == chunks and op.n == N
        V = da.from_array(V_NP, chunks=(chunks, 2))  # two column chunks: joined per task
        AV = op.matmat(V)
        # lazy, float64, the row chunks of X, one column chunk
        assert isinstance(AV, da.Array) and AV.dtype == np.float64
        assert AV.chunks == (chunks, (5,))
        _close(AV.compute(), ref.matmat(V_NP))
        # compatibility: a NumPy V gives NumPy back
        AV_np = op.matmat(V_NP)
        assert type(AV_np) is np.ndarray
        _close(AV_np, ref.matmat(V_NP))
        _close(op.toarray(), ref.toarray())
    assert type(op.degrees) is np.ndarray and op.degrees.dtype == np.float64
    _close(op.degrees, ref.degrees)
    assert op.diagnostics == ref.diagnostics


def test_row_blocks_restricted_to_the_column_chunks_they_touch():
    # points along a line, in order: a row block's neighbours lie in its own and adjacent chunks
    rng = np.random.default_rng(4)
    X_line = np.c_[np.sort(rng.uniform(0, 100, N)), 0.01 * rng.normal(size=(N, 5))]
    X = da.from_array(X_line, chunks=(50, 6))
    with dask.config.set(scheduler="synchronous"):
        op = _cluster_knn(X, K)
        A = op.toarray()
        for i, touched in enumerate(op._touched):
            rows = A[50 * i : 50 * (i + 1)].reshape(50, -1, 50)
            has = np.flatnonzero(np.abs(rows).sum(axis=(0, 2)) > 0)
            np.testing.assert_array_equal(touched, has)  # exactly the non-empty blocks
            assert set(touched) <= {i - 1, i, i + 1}
        ref = knn_operator(X_line, K)
        _close(A, ref.toarray())
        _close(op.matmat(V_NP), ref.matmat(V_NP))


def test_matmat_rejects_a_V_of_the_wrong_height():
    X = da.from_array(X_NP, chunks=(150, 6))
    with dask.config.set(scheduler="synchronous"):
        op = _cluster_knn(X, K)
        with pytest.raises(ValueError, match=r"V must have shape \(600, k\)"):
            op.matmat(da.ones((N - 1, 2), chunks=(150, 2)))


@pytest.fixture(scope="module")
def process_client():
    with local_cluster(memory_limit=2 * 2**30) as (_, c):
        yield c


def _nbytes(value) -> int:
    if isinstance(value, (list, tuple)):
        return sum(_nbytes(v) for v in value)
    return int(getattr(value, "nbytes", 0) or 0)


def _traced(make, *args):
    """``make(*args)`` and the client's peak traced memory while it ran."""
    tracemalloc.start()
    try:
        out = make(*args)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return out, peak


def _persisted_product(op, V):
    AV = op.matmat(V).persist()
    distributed.wait(AV)
    return AV


def test_no_n_by_k_result_reaches_the_client(process_client, monkeypatch):
    """What the client receives while the operator is built and multiplies: the degrees."""
    import skdse._engine.dask as dask_mod

    received = []
    original = dask_mod.compute_on_cluster

    def recording(build):
        out = original(build)
        received.append(_nbytes(out))
        return out

    monkeypatch.setattr(dask_mod, "compute_on_cluster", recording)
    # The client's own overhead (the scheduler runs in this process: task
    # graphs, messages) does not grow with n: measured 1.8-2.1 MB at n = 2000
    # and at 20000. What grows with n is what the client receives.
    k, ops, build_peaks, product_peaks = 15, {}, {}, {}
    for n in (2000, 20000):
        X_np = make_blobs(n, 4, centers=5, random_state=0)[0]  # 4 dimensions: a quick search
        X = process_client.persist(da.from_array(X_np, chunks=(n // 4, 4)))
        distributed.wait(X)
        received.clear()
        ops[n], build_peaks[n] = _traced(_cluster_knn, X, k)
        # the degrees (8 n bytes) and the touched chunks of each row block
        assert 8 * n <= sum(received) <= 8 * n + 1000
    search_bytes = n * (k + 1) * 16  # the (dist, idx) pair: 5.1 MB
    # measured: -0.3 MB, the noise of the overhead (the original code gathers them)
    assert build_peaks[20000] - build_peaks[2000] < search_bytes / 4
    V = {n: da.random.default_rng(0).normal(size=(n, 32), chunks=(n // 4, 32)) for n in ops}
    AV = {}
    for n, op in ops.items():
        AV[n], product_peaks[n] = _traced(_persisted_product, op, V[n])
    assert (
        product_peaks[20000] - product_peaks[2000] < n * 32 * 8 / 4
    )  # no V, no A V (5.1 MB); measured: -0.03 MB
    ref = knn_operator(X_np, k)
    _close(ops[n].degrees, ref.degrees)
    _close(AV[n].compute(), ref.matmat(V[n].compute()))


@pytest.fixture(scope="module")
def thread_client():
    """Workers in this process: the same numba threads as the in-memory search."""
    with local_cluster(processes=False) as (_, c):
        yield c


#: The approximate searches that ran: (worker, X's shape, seed). Module-level:
#: the task's function is pickled by reference, so its calls land here.
SEARCHES = []


def _recording_search(X, n_neighbors, random_state, n_threads=1):
    from skdse._engine.knn import approximate_search

    SEARCHES.append((distributed.get_worker().address, X.shape, random_state, n_threads))
    return approximate_search(X, n_neighbors, random_state, n_threads)


def test_approximate_search_runs_on_a_worker_with_the_seed(thread_client, monkeypatch):
    pytest.importorskip("pynndescent")
    import skdse._engine.dask as dask_mod

    n = 3000  # above the approximate search's candidate lists: NN-descent runs
    X_np = make_blobs(n, 16, centers=5, random_state=0)[0]
    X = da.from_array(X_np, chunks=(1000, 16))
    monkeypatch.setattr(dask_mod, "approximate_search", _recording_search)
    SEARCHES.clear()
    op = _cluster_knn(X, 15, "approximate", 7)
    # one task, on a worker, on X's chunks concatenated there, with the seed
    assert len(SEARCHES) == 1 and SEARCHES[0][0] in thread_client.nthreads()
    assert SEARCHES[0][1:] == ((n, 16), 7, 1)  # seeded: one thread
    # the same candidates as in this process (same numba threads): the same graph
    ref = knn_operator(X_np, 15, "approximate", 7)
    _close(op.toarray(), ref.toarray())
    V = np.random.default_rng(0).normal(size=(n, 3))
    _close(op.matmat(V), ref.matmat(V))


def test_unseeded_search_takes_the_workers_threads(monkeypatch):
    pytest.importorskip("pynndescent")
    import skdse._engine.dask as dask_mod
    import skdse._engine.solve as solve_mod

    X = da.from_array(make_blobs(1200, 8, centers=3, random_state=0)[0], chunks=(400, 8))
    monkeypatch.setattr(dask_mod, "approximate_search", _recording_search)
    # the client counts 7 CPUs; the one worker has 3 threads
    monkeypatch.setattr(solve_mod, "cpu_budget", lambda n_jobs: 7)
    SEARCHES.clear()
    with local_cluster(n_workers=1, processes=False, threads_per_worker=3):
        skdse.diffusion_spectral_entropy(
            X, affinity="knn", neighbors="approximate", random_state=None, max_samples=None
        )
        skdse.diffusion_spectral_entropy(
            X, affinity="knn", neighbors="approximate", random_state=0, max_samples=None
        )
    assert [s[3] for s in SEARCHES] == [3, 1]  # the worker's threads; seeded: one


def test_graph_blocks_lost_with_a_worker_are_recomputed(monkeypatch):
    """A worker holding row blocks of the graph dies: they are rebuilt from X (lineage)."""
    from .test_dask_faults import choose_victim, kill_worker, recomputed_after

    with local_cluster() as (cluster, client):
        X = da.from_array(X_NP, chunks=(150, 6))  # X's chunks have lineage: from_array's tasks
        op = _cluster_knn(X, K)
        V = client.persist(da.from_array(V_NP, chunks=(150, 5)))
        before = op.matmat(V).compute()
        blocks = {f.key for f in distributed.futures_of(op._blocks)}
        assert len(blocks) == 4
        record = {}
        victim = choose_victim(client, client.nthreads(), blocks, record)
        record["killed_at"] = kill_worker(cluster, client, victim, replace=False)
        assert record["sole"]  # blocks that only the dead worker held
        after = op.matmat(V).compute()
        after_np = op.matmat(V_NP)  # the client's vectors: sent again
        assert len(client.nthreads()) == 1
        # recomputed by their tasks (the search, the graph, the split), from X
        assert recomputed_after(client, record["killed_at"], record["sole"]) == record["sole"]
    # the same float64 arithmetic in another worker process: rounding at most
    _close(after, before)
    _close(after_np, before)
