"""Every operator of the engine satisfies the one operator contract (``Operator``)."""

import numpy as np
import pytest

from skdse._engine.kernels import KernelDiagnostics, diffusion_operator, gaussian_affinity
from skdse._engine.knn import knn_affinity, knn_operator
from skdse._engine.operators import AffinityOperator, MatrixFreeOperator, Operator, dense_operator
from skdse._engine.placement import LOCAL, placement_of

da = pytest.importorskip("dask.array")

N, SIGMA, K = 90, 1.5, 8


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(3).normal(size=(N, 4))


def _dask(X):
    return da.from_array(X, chunks=(25, 4))


BUILDERS = {
    "dense": lambda X: dense_operator(X, SIGMA),
    "dense-float32": lambda X: dense_operator(X, SIGMA, np.float32),
    "matrix-free": lambda X: MatrixFreeOperator(X, SIGMA, block_rows=32, n_threads=2),
    "knn": lambda X: knn_operator(X, K),
    "local-exact": lambda X: LOCAL.exact_operator(X, SIGMA, "float64"),
    "cluster-exact": lambda X: placement_of(_dask(X)).exact_operator(_dask(X), SIGMA, "float64"),
    "cluster-dense": lambda X: placement_of(_dask(X)).dense_operator(_dask(X), SIGMA),
    "cluster-matrix-free": lambda X: placement_of(_dask(X)).matrix_free_operator(
        _dask(X), SIGMA, 1
    ),
    "cluster-knn": lambda X: placement_of(_dask(X)).knn_operator(_dask(X), K),
    # affinity="precomputed": the user's G, dense, scipy.sparse, or on the cluster
    "precomputed": lambda X: AffinityOperator(gaussian_affinity(X, SIGMA)[0]),
    "precomputed-sparse": lambda X: LOCAL.affinity_operator(knn_affinity(X, K)[0], "float64"),
    "cluster-precomputed": lambda X: placement_of(_dask(X)).affinity_operator(
        da.from_array(gaussian_affinity(X, SIGMA)[0], chunks=(25, N)), "float64"
    ),
}
#: float32 storage or products: agreement to float32 rounding of entries <= 1
FLOAT32 = {"dense-float32", "matrix-free", "cluster-dense", "cluster-matrix-free"}


@pytest.mark.parametrize("name", list(BUILDERS))
def test_operator_contract(X, name):
    op = BUILDERS[name](X)
    assert isinstance(op, Operator)
    assert op.n == N
    assert isinstance(op.diagnostics, KernelDiagnostics)
    assert op.diagnostics.n_samples == N
    A = np.asarray(op.toarray(), dtype=np.float64)
    assert A.shape == (N, N)
    tol = 1e-6 if name in FLOAT32 else 1e-12
    np.testing.assert_allclose(A, A.T, atol=tol)
    # the top eigenpair is (1, sqrt(degrees)) for every operator
    d = np.asarray(op.degrees, dtype=np.float64)
    assert d.shape == (N,) and np.all(d >= 1.0 - tol)
    v = np.sqrt(d)
    np.testing.assert_allclose(A @ v, v, rtol=10 * tol, atol=10 * tol)
    V = np.random.default_rng(0).normal(size=(N, 3))
    AV = np.asarray(op.matmat(V))
    assert AV.dtype == np.float64 and AV.shape == (N, 3)
    np.testing.assert_allclose(AV, A @ V, atol=50 * tol)


@pytest.mark.parametrize("kernel", ["gaussian", "knn", "precomputed"])
def test_cluster_operators_equal_the_in_memory_ones(X, kernel):
    """One kernel block function and one neighbour search: the same operator either way."""
    if kernel == "precomputed":
        local, cluster = BUILDERS["precomputed"](X), BUILDERS["cluster-precomputed"](X)
        tol = 1e-12
        V = np.random.default_rng(1).normal(size=(N, 2))
        np.testing.assert_allclose(cluster.matmat(V), local.matmat(V), atol=tol)
    elif kernel == "knn":
        local, cluster = BUILDERS["knn"](X), BUILDERS["cluster-knn"](X)
        tol = 1e-12
    else:
        local, cluster = BUILDERS["dense"](X), BUILDERS["cluster-matrix-free"](X)
        tol = 1e-6
    np.testing.assert_allclose(cluster.toarray(), local.toarray(), atol=tol)


def test_dense_and_matrix_free_products_agree():
    X = np.random.default_rng(0).normal(size=(700, 9)) + 30
    V = np.random.default_rng(1).normal(size=(700, 5))
    dense = dense_operator(X, 2.0)
    A, degrees = diffusion_operator(X, 2.0)
    np.testing.assert_array_equal(dense.matmat(V), A @ V)
    for dtype, rtol in [(np.float64, 1e-12), (np.float32, 2e-5)]:
        free = MatrixFreeOperator(X, 2.0, block_rows=128, dtype=dtype, n_threads=2)
        np.testing.assert_allclose(free.degrees, degrees, rtol=rtol)
        np.testing.assert_allclose(
            free.matmat(V), A @ V, rtol=rtol, atol=rtol * np.abs(A @ V).max()
        )
    serial = MatrixFreeOperator(X, 2.0, block_rows=100, dtype=np.float64, n_threads=1)
    np.testing.assert_allclose(serial.toarray(), A, rtol=1e-12, atol=1e-15)
