"""Dask arrays on a distributed LocalCluster (2 workers, 1 thread each)."""

import numpy as np
import pytest

import skdse
from skdse import DiffusionSpectralEntropy, DiffusionSpectralMI

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

X_NP = np.random.default_rng(0).normal(size=(600, 8)) + np.repeat(np.eye(8)[:3] * 4, 200, axis=0)
Y = np.repeat([0, 1, 2], 200)


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        yield c


@pytest.fixture
def X(client):
    return da.from_array(X_NP, chunks=(150, 8))


def test_exact_parity(X):
    for t in (1, 2, 5):
        a = skdse.diffusion_spectral_entropy(X_NP, t=t, solver="exact")
        assert abs(skdse.diffusion_spectral_entropy(X, t=t, solver="exact") - a) < 1e-9


def test_slq_parity_same_seed(X):
    a = skdse.diffusion_spectral_entropy(X_NP, solver="slq", random_state=0)
    b = skdse.diffusion_spectral_entropy(X, solver="slq", random_state=0)
    assert abs(a - b) < 1e-5  # the same probes; float32 blocks on both sides


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
    from skdse._dask import dask_diffusion_operator

    A, degrees = dask_diffusion_operator(X, 2.0)
    assert A.chunks == ((150,) * 4, (150,) * 4)  # no task holds the N x N kernel
    from skdse._kernels import diffusion_operator

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
        assert abs(other.entropy_ - serial.entropy_) < 1e-12
        assert abs(other.entropy_std_ - serial.entropy_std_) < 1e-12
    assert serial.entropy_std_ > 0
    dask_in = DiffusionSpectralEntropy(**kw).fit(da.from_array(big, chunks=(500, 6)))
    assert abs(dask_in.entropy_ - serial.entropy_) < 1e-9
