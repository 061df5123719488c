"""Dask arrays on a distributed LocalCluster (2 workers, 1 thread each)."""

import re

import numpy as np
import pytest

import skdse
from skdse import DiffusionSpectralEntropy, DiffusionSpectralMI

from ._cluster import local_cluster
from ._tolerances import EXACT_TOL

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

pytestmark = [
    # one LocalCluster for the whole module: keep its tests on one xdist worker
    pytest.mark.xdist_group("dask"),
    # the dashboard is off, but a second cluster's scheduler HTTP (metrics)
    # server moves off port 8787 with this warning
    pytest.mark.filterwarnings("ignore:Port 8787 is already in use"),
]

X_NP = np.random.default_rng(0).normal(size=(600, 8)) + np.repeat(np.eye(8)[:3] * 4, 200, axis=0)
Y = np.repeat([0, 1, 2], 200)
WORKER_MEMORY = 2 * 2**30
# Exact spectra computed in another process (a worker, a loky process) or with
# another BLAS thread count agree within EXACT_TOL (tests/_tolerances.py).


@pytest.fixture(scope="module")
def client():
    with local_cluster(memory_limit=WORKER_MEMORY) as (_, c):
        yield c


@pytest.fixture
def X(client):
    return da.from_array(X_NP, chunks=(150, 8))


def test_exact_parity(X):
    for t in (1, 2, 5):
        a = skdse.diffusion_spectral_entropy(X_NP, t=t, solver="exact")
        assert abs(skdse.diffusion_spectral_entropy(X, t=t, solver="exact") - a) < 1e-9


def test_slq_parity_same_seed(X):
    kw = dict(solver="slq", random_state=0, n_deflate=64)
    a = skdse.diffusion_spectral_entropy(X_NP, **kw)
    b = skdse.diffusion_spectral_entropy(X, **kw)
    assert abs(a - b) < 1e-5  # the same probes; float32 blocks on both sides


def test_adaptive_deflation_decides_alike_on_the_cluster(X):
    # few probes: a large standard error, so n_deflate="auto" doubles (64, 128, 256)
    kw = dict(solver="slq", random_state=0, n_probes=4, n_lanczos_steps=8, max_samples=None)
    a = skdse.DiffusionSpectralEntropy(**kw).fit(X_NP)
    b = skdse.DiffusionSpectralEntropy(**kw).fit(X)
    assert a.spectrum_.n_deflated > 64
    assert b.spectrum_.n_deflated == a.spectrum_.n_deflated
    assert abs(a.entropy_ - b.entropy_) < 1e-5


def test_estimators_on_dask(X):
    est = DiffusionSpectralEntropy(bandwidth="median", random_state=0).fit(X)
    ref = DiffusionSpectralEntropy(bandwidth="median", random_state=0).fit(X_NP)
    assert type(est.eigenvalues_) is np.ndarray
    assert abs(est.entropy_ - ref.entropy_) < 1e-9
    assert abs(est.score(X) - ref.entropy_) < 1e-9
    mi = DiffusionSpectralMI(random_state=0, n_repeats=2).fit(X, Y)
    ref_mi = DiffusionSpectralMI(random_state=0, n_repeats=2).fit(X_NP, Y)
    assert abs(mi.mutual_information_ - ref_mi.mutual_information_) < 1e-9


def test_kernel_blocks_follow_row_chunks(X):
    from skdse._engine.dask import dask_diffusion_operator

    A, degrees = dask_diffusion_operator(X, 2.0)
    assert A.chunks == ((150,) * 4, (150,) * 4)  # no task holds the N x N kernel
    from skdse._engine.kernels import diffusion_operator

    ref, ref_deg = diffusion_operator(X_NP, 2.0)
    np.testing.assert_allclose(A.compute(), ref, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(degrees.compute(), ref_deg, rtol=1e-12)


def test_grid_search_with_joblib_dask_backend(client):
    import joblib
    from sklearn.decomposition import PCA
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline

    grid = GridSearchCV(
        make_pipeline(PCA(random_state=0), DiffusionSpectralMI(random_state=0, n_repeats=2)),
        {"pca__n_components": [1, 6]},
        cv=2,
        n_jobs=-1,
    )
    with joblib.parallel_config(backend="dask"):
        grid.fit(X_NP, Y)
    assert grid.best_params_ == {"pca__n_components": 6}


def test_unknown_chunk_sizes_refused(X):
    unknown = X[X[:, 0] > -100]  # boolean indexing loses the chunk sizes
    with pytest.raises(ValueError, match="compute_chunk_sizes"):
        skdse.diffusion_spectral_entropy(unknown)
    assert skdse.diffusion_spectral_entropy(unknown.compute_chunk_sizes()) > 0


def test_nan_in_a_chunk_found_at_compute_time(client):
    bad = X_NP.copy()
    bad[480, 3] = np.nan  # in the fourth chunk only
    with pytest.raises(ValueError, match="NaN or infinity"):
        skdse.diffusion_spectral_entropy(da.from_array(bad, chunks=(150, 8)))


def test_subsample_ensembles_identical_for_any_workers(client):
    import joblib

    big = np.random.default_rng(1).normal(size=(2000, 6))
    kw = dict(max_samples=300, n_subsamples=4, random_state=0)
    serial = DiffusionSpectralEntropy(**kw).fit(big)
    with joblib.parallel_config(backend="dask"):
        on_cluster = DiffusionSpectralEntropy(**kw).fit(big)
    with joblib.parallel_config(backend="loky", n_jobs=2):
        two_procs = DiffusionSpectralEntropy(**kw).fit(big)
    # the same subsets whoever computes them; equal up to BLAS rounding (threads differ)
    for other in (on_cluster, two_procs):
        assert abs(other.entropy_ - serial.entropy_) < EXACT_TOL
        assert abs(other.entropy_std_ - serial.entropy_std_) < EXACT_TOL
    assert serial.entropy_std_ > 0
    big_dask = da.from_array(big, chunks=(500, 6))
    dask_in = DiffusionSpectralEntropy(**kw).fit(big_dask)
    assert abs(dask_in.entropy_ - serial.entropy_) < 1e-9
    with distributed.get_task_stream(client) as stream, joblib.parallel_config(backend="dask"):
        both = DiffusionSpectralEntropy(**kw).fit(big_dask)  # gathered subsamples as tasks
    assert abs(both.entropy_ - serial.entropy_) < 1e-9
    # joblib names its tasks batch_of_<function>_<calls>_calls-<token>
    calls = [re.match(r"batch_of_cached_spectrum_(\d+)_calls", str(t["key"])) for t in stream.data]
    assert sum(int(m[1]) for m in calls if m) == kw["n_subsamples"]  # all on the workers


def test_cluster_memory_is_the_workers_limits(client):
    from skdse._engine.dask import cluster_memory_bytes

    assert cluster_memory_bytes() == 2 * WORKER_MEMORY


def test_matrix_free_blocks_recomputed_on_the_cluster(X, monkeypatch):
    import skdse._engine.dask as dask_mod
    import skdse._engine.solve as solve_mod

    # the operator's placement is under test, not the deflation (the small cluster
    # below would stop "auto" from doubling where the reference does)
    kw = dict(solver="slq", random_state=0, n_deflate=64)
    ref = skdse.diffusion_spectral_entropy(X_NP, operator="matrix_free", **kw)
    assert abs(skdse.diffusion_spectral_entropy(X, operator="matrix_free", **kw) - ref) < 1e-5
    op = dask_mod.DaskMatrixFreeOperator(X, 2.0)
    persisted = dask_mod.DaskOperator(X, 2.0)
    np.testing.assert_allclose(op.degrees, persisted.degrees, rtol=1e-5)
    V = np.random.default_rng(0).normal(size=(600, 3))
    np.testing.assert_allclose(op.matmat(V), persisted.matmat(V), rtol=1e-4, atol=1e-5)

    # "auto" recomputes when persisted blocks would take over half the cluster's memory
    def refuse(*args, **kwargs):
        raise AssertionError("persisted the kernel on a cluster too small for it")

    # 3 MB: under twice the 1.6 MB float32 kernel, over slq's 1.8 MB of vectors (on the workers)
    monkeypatch.setattr(dask_mod, "cluster_memory_bytes", lambda meta=None: 3 * 10**6)
    monkeypatch.setattr(dask_mod, "DaskOperator", refuse)
    # there slq's vectors leave no room for the full Krylov basis: the reference without it
    monkeypatch.setattr(solve_mod, "FULL_BASIS_FRACTION", 0.0)
    ref = skdse.diffusion_spectral_entropy(X_NP, operator="matrix_free", **kw)
    assert abs(skdse.diffusion_spectral_entropy(X, **kw) - ref) < 1e-5


def test_sent_data_held_until_the_products_are_gathered(X, client, monkeypatch):
    import asyncio
    import gc

    from skdse._engine.dask import DaskMatrixFreeOperator, DaskOperator
    from skdse._engine.kernels import diffusion_operator

    # A product's graph holds only copies of the futures of the vectors sent to the
    # cluster (to_delayed optimises it): once the originals are dropped, the client's
    # event loop tells the scheduler to forget the data. On a busy machine the loop got
    # there before the product was submitted ("lost dependencies", every retry).
    # Letting the loop run before each submission (compute and persist both go
    # through _graph_to_futures) makes that happen every time.
    operators = (DaskMatrixFreeOperator(X, 2.0), DaskOperator(X, 2.0))
    submit = client._graph_to_futures

    async def nothing():
        await asyncio.sleep(0)

    def submit_once_the_loop_has_run(*args, **kwargs):
        gc.collect()
        client.sync(nothing)  # the releases queued before this call are sent
        return submit(*args, **kwargs)

    monkeypatch.setattr(client, "_graph_to_futures", submit_once_the_loop_has_run)
    A = diffusion_operator(X_NP, 2.0)[0]
    V = np.random.default_rng(0).normal(size=(600, 3))
    for op in operators:  # float32 blocks on the cluster
        np.testing.assert_allclose(op.matmat(V), A @ V, rtol=1e-4, atol=1e-5)
    # a whole fit: its start vectors are scattered and persisted
    kw = dict(solver="slq", operator="matrix_free", random_state=0, n_deflate=64)
    ref = skdse.diffusion_spectral_entropy(X_NP, **kw)
    assert abs(skdse.diffusion_spectral_entropy(X, **kw) - ref) < 1e-5


def test_client_vectors_are_scattered_not_put_in_the_graph(X):
    import warnings

    import dask

    # 600 x 96 float32 probes are 230 kB: above this threshold if they rode in the graph
    with (
        dask.config.set({"distributed.admin.large-graph-warning-threshold": "100kB"}),
        warnings.catch_warnings(),
    ):
        warnings.filterwarnings("error", "Sending large graph")
        for operator in ("dense", "matrix_free"):
            skdse.diffusion_spectral_entropy(X, solver="slq", operator=operator, random_state=0)


def test_knn_kernel_on_the_cluster(X):
    from skdse._engine.dask import dask_knn_search
    from skdse._engine.knn import knn_search

    dist, idx = dask_knn_search(X, 10)
    ref_dist, ref_idx = knn_search(X_NP, 10)
    # scikit-learn's distances use |x|^2 + |y|^2 - 2 x.y: its rounding error
    # delta <= 4 D eps max|x|^2 moves a distance by at most sqrt(delta) (6e-7
    # here), all of it on the self-distances (0 in one process, 1.2e-7 in another)
    atol = np.sqrt(4 * X_NP.shape[1] * np.finfo(np.float64).eps * (X_NP**2).sum(axis=1).max())
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-9, atol=atol)
    # the neighbours are the same: consecutive distances up to the next
    # candidate (the 12th nearest point) differ by more than that rounding
    assert np.diff(knn_search(X_NP, 11)[0], axis=1).min() > 2 * atol
    np.testing.assert_array_equal(idx, ref_idx)
    for solver in ("exact", "slq"):
        kw = dict(affinity="knn", n_neighbors=10, solver=solver, random_state=0)
        ref = skdse.diffusion_spectral_entropy(X_NP, **kw)
        assert abs(skdse.diffusion_spectral_entropy(X, **kw) - ref) < 1e-8


def test_dsmi_terms_run_as_cluster_tasks(client):
    import joblib

    kw = dict(n_repeats=3, random_state=0)
    serial = DiffusionSpectralMI(**kw).fit(X_NP, Y)
    with distributed.get_task_stream(client) as stream, joblib.parallel_config(backend="dask"):
        on_cluster = DiffusionSpectralMI(**kw).fit(X_NP, Y)
    assert len(stream.data) >= 1  # the terms went to the workers
    assert abs(on_cluster.mutual_information_ - serial.mutual_information_) < EXACT_TOL
    # a dask X under the same backend: terms in turn, each one's blocks on the cluster
    with joblib.parallel_config(backend="dask"):
        dask_x = DiffusionSpectralMI(**kw).fit(da.from_array(X_NP, chunks=(150, 8)), Y)
    assert abs(dask_x.mutual_information_ - serial.mutual_information_) < 1e-9
    np.testing.assert_allclose(
        on_cluster.group_marginal_entropies_, serial.group_marginal_entropies_, atol=EXACT_TOL
    )


def test_ensembles_identical_for_one_and_two_workers(client):
    import joblib

    big = np.random.default_rng(2).normal(size=(1500, 5))
    kw = dict(max_samples=250, n_subsamples=4, random_state=3)
    with joblib.parallel_config(backend="dask", client=client):
        two = DiffusionSpectralEntropy(**kw).fit(big)
    with (
        local_cluster(n_workers=1, set_as_default=False) as (_, one),
        joblib.parallel_config(backend="dask", client=one),
    ):
        single = DiffusionSpectralEntropy(**kw).fit(big)
    # one thread per worker on both, but other processes: rounding may differ
    assert abs(two.entropy_ - single.entropy_) < EXACT_TOL
    assert abs(two.entropy_std_ - single.entropy_std_) < EXACT_TOL
    assert two.entropy_std_ > 0


def test_cli_scheduler_address(client, tmp_path):
    import json
    import subprocess
    import sys

    path = tmp_path / "emb.npy"
    np.save(path, X_NP)
    cmd = [sys.executable, "-m", "skdse", "entropy", str(path), "--json", "--quiet"]
    out = subprocess.run(
        cmd + ["--scheduler", client.scheduler.address, "--chunk-rows", "200"],
        capture_output=True,
        text=True,
        check=True,
    )
    row = json.loads(out.stdout)
    ref = skdse.diffusion_spectral_entropy(X_NP, random_state=0)
    assert abs(row["DSE"] - ref) < 1e-9
    local = subprocess.run(
        cmd + ["--scheduler", "local", "--chunk-rows", "300"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert abs(json.loads(local.stdout)["DSE"] - ref) < 1e-9
    bad = subprocess.run(cmd + ["--scheduler", "tcp://127.0.0.1:9"], capture_output=True, text=True)
    assert bad.returncode == 2
    assert "cannot connect to the Dask scheduler at tcp://127.0.0.1:9" in bad.stderr


@pytest.mark.parametrize(
    "kw",
    [
        {"solver": "exact"},
        {"solver": "slq", "operator": "matrix_free"},
        {"solver": "slq", "operator": "dense"},
        {"solver": "slq", "affinity": "knn"},
    ],
)
def test_empty_row_chunks(client, kw):
    # a row chunk of 0 rows (a filtered dask array has them) failed in da.concatenate
    X = da.from_array(X_NP, chunks=((150, 0, X_NP.shape[0] - 150), X_NP.shape[1]))
    small = {"n_probes": 4, "n_deflate": 4, "n_lanczos_steps": 8}  # the layout is under test
    args = {"random_state": 0, "max_samples": None, **small, **kw}
    got = skdse.diffusion_spectral_entropy(X, **args)
    assert abs(got - skdse.diffusion_spectral_entropy(X_NP, **args)) < 1e-6
