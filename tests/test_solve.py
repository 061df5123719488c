"""The solver decision (skdse/_engine/solve.py): exact or slq, and the memory it plans."""

import numpy as np
import pytest

import skdse._engine.resources as engine_resources
from skdse import (
    DiffusionSpectralEntropy,
    DiffusionSpectralMI,
    InsufficientMemoryError,
    diffusion_spectral_entropy,
)
from skdse._engine.solve import AUTO_EXACT_MAX, krylov_bytes, resolve_solver
from skdse._params import entropy_params

from ._data import DATASETS


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_slq_on_a_few_points_is_exact(n):
    Xs = np.random.default_rng(n).normal(size=(n, 3))
    exact = diffusion_spectral_entropy(Xs, solver="exact")
    assert diffusion_spectral_entropy(Xs, solver="slq", random_state=0) == exact  # same path
    est = DiffusionSpectralEntropy(solver="slq", random_state=0).fit(Xs)
    assert est.solver_ == "exact"
    assert est.entropy_std_ == 0.0


def test_slq_threshold_is_where_its_vectors_span_the_space():
    # 1 (top eigenvector) + n_deflate + n_probes vectors span R^n up to n = 5
    params = entropy_params(solver="slq", n_deflate=2, n_probes=2)
    assert resolve_solver(5, params) == "exact"
    assert resolve_solver(6, params) == "slq"
    X6 = np.random.default_rng(0).normal(size=(6, 2))
    est = DiffusionSpectralEntropy(solver="slq", n_deflate=2, n_probes=2, random_state=0).fit(X6)
    assert est.solver_ == "slq"


def test_dsmi_small_classes_with_slq_are_exact():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(12, 3))
    y = np.repeat([0, 1, 2, 3], 3)
    slq = DiffusionSpectralMI(solver="slq", random_state=0).fit(X, y)
    exact = DiffusionSpectralMI(solver="exact", random_state=0).fit(X, y)
    assert np.array_equal(slq.group_conditional_entropies_, exact.group_conditional_entropies_)


def test_krylov_memory_counts_the_steps_that_run():
    params = entropy_params(n_lanczos_steps=10**6, n_deflate=10**3, n_probes=4)
    # at most n - 1 steps and n - 2 deflated directions run on 50 points
    assert krylov_bytes(50, params) == 8 * 50 * (4 + 48) * 49


def test_auto_switches_at_threshold():
    small = DiffusionSpectralEntropy().fit(DATASETS["blobs"](300))
    assert small.solver_ == "exact"
    X = np.random.default_rng(0).normal(size=(AUTO_EXACT_MAX + 1, 3))
    assert DiffusionSpectralEntropy(random_state=0).fit(X).solver_ == "slq"


def test_slq_memory_refused_up_front(monkeypatch):
    monkeypatch.setattr(engine_resources, "available_memory_bytes", lambda: 1_000_000)
    X = np.random.default_rng(0).normal(size=(3000, 2))
    with pytest.raises(InsufficientMemoryError, match="n_probes"):
        diffusion_spectral_entropy(X, solver="slq", operator="matrix_free")
    with pytest.raises(InsufficientMemoryError, match="matrix_free"):
        diffusion_spectral_entropy(X, solver="slq", operator="dense")
