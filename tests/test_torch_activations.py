"""What the PyTorch training example (examples/plot_torch_training.py) relies on.

A layer's activations are handed to skdse as torch tensors, on their own
device; on the CPU they must give the numbers of their NumPy copy, and a
convolutional layer's 4-D output, flattened to (N, -1) (``flatten=True``), is
a 2-D input; a hook's output taken outside ``torch.no_grad()`` is read without
its autograd graph.
"""

import warnings

import numpy as np
import pytest

import skdse
from skdse._validation import check_X
from skdse.baselines import BaselineEntropy, effective_rank, vendi_score

from ._tolerances import EXACT_TOL, F32_TOL

torch = pytest.importorskip("torch")

Y = np.repeat(np.arange(3), 40)


def _tensor(dtype):
    gen = torch.Generator().manual_seed(0)
    centres = torch.randn(3, 12, generator=gen, dtype=torch.float64) * 3
    X = centres.repeat_interleave(40, dim=0) + torch.randn(
        120, 12, generator=gen, dtype=torch.float64
    )
    return X.to(dtype)


def _both(X, **kw):
    """(DSE, DSMI) of X, with the same seeds."""
    h = skdse.diffusion_spectral_entropy(X, random_state=0, **kw)
    mi = skdse.diffusion_spectral_mutual_information(X, Y, random_state=0, n_repeats=2, **kw)
    return h, mi


@pytest.mark.parametrize("tensor_dtype", ["float64", "float32"])
def test_cpu_tensor_gives_the_numbers_of_its_numpy_copy(tensor_dtype):
    X = _tensor(getattr(torch, tensor_dtype))
    got, ref = _both(X), _both(X.numpy())
    assert all(isinstance(v, float) for v in got)
    # X is taken in float64 on both paths (a float32 tensor is widened exactly), so
    # only the eigensolvers differ (PyTorch's and SciPy's LAPACK drivers): EXACT_TOL
    # per DSE; DSMI is a difference of p-weighted DSE sums, hence twice that.
    assert abs(got[0] - ref[0]) <= EXACT_TOL
    assert abs(got[1] - ref[1]) <= 2 * EXACT_TOL


def test_cpu_tensor_in_float32_arithmetic():
    X = _tensor(torch.float32)
    got, ref = _both(X, dtype="float32"), _both(X.numpy(), dtype="float32")
    # two float32 eigensolvers, each within F32_TOL of the float64 value
    assert abs(got[0] - ref[0]) <= 2 * F32_TOL
    assert abs(got[1] - ref[1]) <= 4 * F32_TOL
    exact = _both(X.numpy())
    assert abs(got[0] - exact[0]) <= F32_TOL


def test_forward_hook_activation_flattened_is_a_2d_input():
    torch.manual_seed(0)
    block = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU())
    acts = {}
    block.register_forward_hook(lambda mod, inp, out: acts.__setitem__("conv", out))
    images = torch.rand(120, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        block(images)
    out = acts["conv"]
    assert out.shape == (120, 4, 8, 8)
    # the 4-D tensor itself is refused, with how to flatten it
    with pytest.raises(ValueError, match="2D.*flatten=True"):
        skdse.diffusion_spectral_entropy(out)
    Z = out.flatten(1)
    assert Z.shape == (120, 4 * 8 * 8)
    got = _both(Z)
    assert _both(out, flatten=True) == got
    ref = _both(out.numpy().reshape(120, -1))
    assert abs(got[0] - ref[0]) <= EXACT_TOL
    assert abs(got[1] - ref[1]) <= 2 * EXACT_TOL
    assert 0 < got[0] <= np.log2(120) + EXACT_TOL


def test_activation_that_requires_grad_is_read_without_its_graph():
    torch.manual_seed(0)
    layer = torch.nn.Linear(12, 8, dtype=torch.float64)
    Z = layer(_tensor(torch.float64))  # a hook's output outside torch.no_grad()
    assert Z.requires_grad
    assert not check_X(Z).requires_grad
    ref = _both(Z.detach())
    always = torch.is_warn_always_enabled()
    torch.set_warn_always(True)  # torch warns of a grad tensor's .item() once per process
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # torch's "requires_grad=True to a scalar"
            got = _both(Z)
            rank = effective_rank(Z)
            fitted = BaselineEntropy().fit(Z)  # NumPy's conversion refused grad tensors
    finally:
        torch.set_warn_always(always)
    assert got == ref  # the same tensor, without its graph: the same arithmetic
    assert rank == effective_rank(Z.detach())
    assert fitted.entropy_ == BaselineEntropy().fit(Z.detach()).entropy_


def test_rank_measures_compute_on_the_tensor(monkeypatch):
    # the example's effective rank and Vendi score of a layer: on the tensor's own
    # library (a CUDA tensor stays on its GPU), not on a NumPy copy
    from skdse import _rank_measures

    seen = []
    for name in ("singular_values", "vendi_of"):
        original = getattr(_rank_measures, name)
        monkeypatch.setattr(
            _rank_measures,
            name,
            lambda X, *a, _f=original: seen.append(type(X)) or _f(X, *a),
        )
    X = _tensor(torch.float64)
    rank, vendi = effective_rank(X), vendi_score(X)
    assert seen == [torch.Tensor, torch.Tensor]
    assert abs(rank - effective_rank(X.numpy())) <= 1e-9 * rank
    assert abs(vendi - vendi_score(X.numpy())) <= 1e-9 * vendi
