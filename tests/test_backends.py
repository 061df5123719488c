"""One array-API code path: NumPy, array-api-strict, PyTorch (CPU) and CuPy (GPU)."""

import warnings

import numpy as np
import pytest

import skdse
from skdse import DiffusionSpectralEntropy, DiffusionSpectralMI
from skdse._engine.backend import namespace, to_numpy

from ._data import DATASETS
from ._tolerances import EXACT_TOL, F32_TOL, SLQ_TOL

X_NP = DATASETS["blobs"](300)
Y_NP = np.repeat(np.arange(3), 100)


def _strict():
    return pytest.importorskip("array_api_strict")


def _torch():
    return pytest.importorskip("torch")


def _cupy():
    cp = pytest.importorskip("cupy")
    try:
        if cp.cuda.runtime.getDeviceCount() < 1:
            pytest.skip("no CUDA device")
    except cp.cuda.runtime.CUDARuntimeError:
        pytest.skip("no CUDA device")
    return cp


def _torch_cuda():
    torch = _torch()
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    return torch.asarray(X_NP, device="cuda")


def _backends():
    return [
        pytest.param(lambda: _strict().asarray(X_NP), id="array-api-strict"),
        pytest.param(lambda: _torch().asarray(X_NP), id="torch-cpu"),
        pytest.param(lambda: _cupy().asarray(X_NP), id="cupy", marks=pytest.mark.gpu),
        pytest.param(_torch_cuda, id="torch-cuda", marks=pytest.mark.gpu),
    ]


@pytest.mark.reproducibility
@pytest.mark.parametrize("make", _backends())
@pytest.mark.parametrize("solver", ["exact", "slq"])
def test_same_numbers_on_every_backend(make, solver):
    X = make()
    kw = dict(solver=solver, random_state=0, t=2)
    ref = skdse.diffusion_spectral_entropy(X_NP, **kw)
    got = skdse.diffusion_spectral_entropy(X, **kw)
    assert isinstance(got, float)
    # exact: float64 throughout; slq: the same probes, float32 operator products
    assert abs(got - ref) <= (EXACT_TOL if solver == "exact" else SLQ_TOL)


@pytest.mark.parametrize("make", _backends())
def test_estimators_keep_numpy_state(make):
    X = make()
    est = DiffusionSpectralEntropy(bandwidth="median", random_state=0).fit(X)
    ref = DiffusionSpectralEntropy(bandwidth="median", random_state=0).fit(X_NP)
    assert type(est.eigenvalues_) is np.ndarray and isinstance(est.bandwidth_, float)
    np.testing.assert_allclose(est.eigenvalues_, ref.eigenvalues_, atol=1e-12)
    assert abs(est.score(X) - ref.entropy_) < 1e-9
    assert est.n_features_in_ == X_NP.shape[1]
    with pytest.raises(ValueError, match="features"):
        est.score(X[:, :3])
    mi = DiffusionSpectralMI(random_state=0, n_repeats=2).fit(X, Y_NP)
    ref_mi = DiffusionSpectralMI(random_state=0, n_repeats=2).fit(X_NP, Y_NP)
    assert abs(mi.mutual_information_ - ref_mi.mutual_information_) < 1e-9
    assert type(mi.group_conditional_entropies_) is np.ndarray


@pytest.mark.parametrize("make", _backends())
def test_device_array_bad_input(make):
    X = make()
    xp = namespace(X)
    bad = xp.concat([X[:5, ...], xp.asarray(np.full((1, X.shape[1]), np.nan), device=X.device)])
    with pytest.raises(ValueError, match="NaN"):
        skdse.diffusion_spectral_entropy(bad)
    with pytest.raises(ValueError, match="1 sample"):
        skdse.diffusion_spectral_entropy(X[:1, ...])
    with pytest.raises(ValueError, match="2D"):
        skdse.diffusion_spectral_entropy(X[:, 0])


def test_float32_costs_little_accuracy():
    h64 = skdse.diffusion_spectral_entropy(X_NP, solver="exact")
    h32 = skdse.diffusion_spectral_entropy(X_NP, solver="exact", dtype="float32")
    assert abs(h64 - h32) < 1e-3


def test_torch_tensor_of_a_model_layer():
    torch = _torch()
    layer = torch.nn.Linear(16, 8)
    with torch.no_grad():
        Z = layer(torch.as_tensor(X_NP, dtype=torch.float32))
    h = skdse.diffusion_spectral_entropy(Z)
    # two float32 eigensolvers (PyTorch's and SciPy's LAPACK drivers): each within
    # the float32 tolerance of the float64 value
    assert abs(h - skdse.diffusion_spectral_entropy(Z.numpy(), dtype="float32")) <= 2 * F32_TOL


@pytest.mark.gpu
def test_cupy_backend_moves_numpy_input_and_frees_pool():
    cp = _cupy()
    h = skdse.diffusion_spectral_entropy(X_NP, backend="cupy", solver="exact")
    assert abs(h - skdse.diffusion_spectral_entropy(X_NP, solver="exact")) < 1e-9
    # the computation gave its cached blocks back to the device
    assert cp.get_default_memory_pool().free_bytes() == 0
    X = cp.asarray(X_NP)
    assert to_numpy(X).shape == X_NP.shape


def test_cupy_backend_without_cupy_says_how_to_install():
    try:
        import cupy  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install"):
            skdse.diffusion_spectral_entropy(X_NP, backend="cupy")
    else:
        assert skdse.diffusion_spectral_entropy(X_NP[:50], backend="cupy") >= 0


@pytest.mark.parametrize("param, value", [("backend", "torch"), ("dtype", "float16")])
def test_bad_backend_parameters(param, value):
    with pytest.raises(ValueError, match=param):
        skdse.diffusion_spectral_entropy(X_NP, **{param: value})
    with pytest.raises(ValueError, match=param):
        DiffusionSpectralMI(**{param: value}).fit(X_NP, Y_NP)


def test_import_does_not_load_gpu_libraries():
    import subprocess
    import sys

    code = (
        "import sys, skdse; print(sorted(m for m in ('cupy', 'torch', 'dask') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_to_numpy_round_trips():
    torch = _torch()
    strict = _strict()
    for arr in (torch.asarray(X_NP), strict.asarray(X_NP), X_NP):
        np.testing.assert_array_equal(to_numpy(arr), X_NP)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert namespace([[1.0, 2.0]]).__name__.endswith("numpy")
