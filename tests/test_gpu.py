"""CPU/GPU agreement on a CUDA device (the correctness half of benchmarks/gpu_check.py).

Every test is marked ``gpu`` and skips cleanly without CuPy or a CUDA device;
the timings stay in ``benchmarks/gpu_check.py``.
"""

import functools

import numpy as np
import pytest

import skdse
from skdse import DiffusionSpectralEntropy
from skdse.datasets import make_noisy_subspace

from ._tolerances import EXACT_TOL, F32_TOL, SLQ_TOL
from .test_backends import _cupy, _torch

pytestmark = pytest.mark.gpu

# gpu_check.py's data: 2000 points near a 5-dimensional subspace of R^64, 10 classes
X = make_noisy_subspace(2000, 5, 64, noise=0.05, random_state=0)
Y = np.repeat(np.arange(10), 200)
TS = [1, 2, 5]


@functools.cache
def cpu_profile():
    """DSE of X at each of TS on the CPU, computed once and only where a GPU test runs."""
    return DiffusionSpectralEntropy(solver="exact").fit(X).entropy_profile(TS)


def _pool_is_empty(cp):
    """The computation gave the blocks it cached back to the device: freeing them
    again gives nothing more back. (Free blocks that share a pool chunk with a live
    array, such as the input, cannot go back: ``free_bytes()`` may stay above 0;
    CuPy 14 on an H200 showed it.)"""
    pool = cp.get_default_memory_pool()
    held = pool.total_bytes()
    pool.free_all_blocks()
    return pool.total_bytes() == held


@pytest.mark.parametrize("dtype, tol", [("float64", EXACT_TOL), ("float32", F32_TOL)])
def test_cupy_exact_matches_numpy(dtype, tol):
    cp = _cupy()
    Xg = cp.asarray(X)  # held: a temporary input would be freed into the pool after the fit
    est = DiffusionSpectralEntropy(solver="exact", dtype=dtype).fit(Xg)
    assert _pool_is_empty(cp)
    assert type(est.eigenvalues_) is np.ndarray
    np.testing.assert_allclose(est.entropy_profile(TS), cpu_profile(), rtol=0, atol=tol)


def test_torch_cuda_exact_matches_numpy():
    torch = _torch()
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    est = DiffusionSpectralEntropy(solver="exact").fit(torch.asarray(X, device="cuda"))
    np.testing.assert_allclose(est.entropy_profile(TS), cpu_profile(), rtol=0, atol=EXACT_TOL)


def test_cupy_slq_matches_numpy_with_the_same_probes():
    cp = _cupy()
    cpu = skdse.diffusion_spectral_entropy(X, solver="slq", random_state=0)
    Xg = cp.asarray(X)
    gpu = skdse.diffusion_spectral_entropy(Xg, solver="slq", random_state=0)
    assert _pool_is_empty(cp)
    # the same probes; float32 products summed in another order (measured 2.1e-7
    # bits on an H100 with this data): another device is held to slq's tolerance
    assert abs(gpu - cpu) <= SLQ_TOL


def test_cupy_dsmi_exact_matches_numpy():
    cp = _cupy()
    kw = dict(random_state=0, solver="exact")
    cpu = skdse.diffusion_spectral_mutual_information(X, Y, **kw)
    Xg = cp.asarray(X)
    gpu = skdse.diffusion_spectral_mutual_information(Xg, Y, **kw)
    assert _pool_is_empty(cp)
    assert abs(gpu - cpu) <= EXACT_TOL
