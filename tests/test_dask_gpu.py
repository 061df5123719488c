"""Dask arrays of CuPy chunks on a one-GPU ``dask_cuda.LocalCUDACluster``.

Marked ``gpu``; skips cleanly without CuPy, a CUDA device, dask/distributed or
dask-cuda (``pip install -e ".[gpu,dask,test]"`` installs them). The same code
path with NumPy chunks is tests/test_dask.py's.
"""

import numpy as np
import pytest

from skdse import DiffusionSpectralEntropy
from skdse.datasets import make_noisy_subspace

from ._tolerances import SLQ_TOL
from .test_backends import _cupy

pytestmark = [
    pytest.mark.gpu,
    # one cluster for the module: keep its tests on one xdist worker
    pytest.mark.xdist_group("dask_gpu"),
    pytest.mark.filterwarnings("ignore:Port 8787 is already in use"),
]

# gpu_check.py's kind of data, 3000 points in D = 64, in 4 row chunks
X_NP = make_noisy_subspace(3000, 5, 64, noise=0.05, random_state=0)
CHUNK_ROWS = 750
KW = dict(solver="slq", operator="matrix_free", max_samples=None, random_state=0)


@pytest.fixture(scope="module")
def cuda_client():
    _cupy()  # skips without CuPy or a CUDA device, before dask_cuda is imported
    pytest.importorskip("dask.array")
    distributed = pytest.importorskip("distributed")
    dask_cuda = pytest.importorskip("dask_cuda")
    with (
        dask_cuda.LocalCUDACluster(
            n_workers=1, CUDA_VISIBLE_DEVICES="0", threads_per_worker=1, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def _cupy_chunks():
    """X as a dask array whose chunks are made CuPy on the worker (never on the client)."""
    cp = _cupy()
    import dask.array as da

    return da.from_array(X_NP, chunks=(CHUNK_ROWS, -1)).map_blocks(
        cp.asarray, dtype=X_NP.dtype, meta=cp.empty((0, 0), dtype=X_NP.dtype)
    )


def test_cupy_chunks_fit_on_a_local_cuda_cluster(cuda_client):
    cp = _cupy()
    import distributed

    X = _cupy_chunks()
    assert isinstance(X._meta, cp.ndarray)
    # the chunks the worker holds are CuPy arrays on its GPU
    on_gpu = cuda_client.compute(
        X.map_blocks(lambda b: np.array([[isinstance(b, cp.ndarray)]]), dtype=bool, chunks=(1, 1))
    ).result()
    assert on_gpu.shape == (len(X.chunks[0]), 1) and on_gpu.all()

    ref = DiffusionSpectralEntropy(**KW).fit(X_NP)
    with distributed.get_task_stream(cuda_client) as stream:
        est = DiffusionSpectralEntropy(**KW).fit(X)
    # the kernel's pair products ran as tasks on the GPU worker (X was not
    # gathered into the client and multiplied there)
    keys = [str(task["key"]) for task in stream.data]
    assert any("_pair_product" in key for key in keys), sorted(set(k[:30] for k in keys))
    assert isinstance(est.entropy_, float)
    assert est.solver_ == "slq"
    # the same probes; float32 kernel blocks on the GPU against the CPU's, summed in
    # another order (row chunks of 750 against blocks of 1024): slq's tolerance
    assert abs(est.entropy_ - ref.entropy_) <= SLQ_TOL
