"""slq's Lanczos without the full Krylov basis (the three-term recurrence).

slq keeps the full basis (full reorthogonalisation) while it fits in half
the memory, and runs the three-term recurrence alone beyond: the Gauss
rules of both integrate the spectrum alike.
"""

import numpy as np
import pytest

import skdse
from skdse._engine import resources, solve
from skdse._engine.operators import dense_operator
from skdse._engine.slq import LocalVectors, lanczos_quadrature
from skdse._params import entropy_params

X = np.random.default_rng(0).normal(size=(600, 8))
SLQ = dict(solver="slq", max_samples=None, random_state=0)


def _rule(op, reorthogonalize, n_steps=30):
    rng = np.random.default_rng(1)
    v = np.sqrt(op.degrees) / np.linalg.norm(np.sqrt(op.degrees))
    starts = rng.choice([-1.0, 1.0], size=(op.n, 4))
    starts -= v[:, None] * (v @ starts)[None, :]
    nodes, weights = lanczos_quadrature(
        op.matmat, starts, n_steps, v, LocalVectors(op.xp), reorthogonalize=reorthogonalize
    )
    return starts, v, nodes, weights


@pytest.mark.parametrize("reorthogonalize", [True, False])
def test_both_rules_integrate_low_powers_exactly(reorthogonalize):
    # an m-node Gauss rule is exact for polynomials of degree < 2m: the moments
    # u^T A'^p u / |u|^2 come out of either recurrence to rounding
    op = dense_operator(X, 1.0, np.float64)
    starts, v, nodes, weights = _rule(op, reorthogonalize)
    A = op.toarray()
    P = np.eye(op.n) - np.outer(v, v)
    Ad = P @ A @ P
    for p in range(1, 8):
        direct = np.einsum("ij,ij->j", starts, np.linalg.matrix_power(Ad, p) @ starts)
        direct /= np.einsum("ij,ij->j", starts, starts)
        np.testing.assert_allclose((weights * nodes**p).sum(axis=1), direct, rtol=1e-9)
    assert np.allclose(weights.sum(axis=1), 1.0)


def test_plain_recurrence_dse_matches_the_full_basis_and_the_exact_value(monkeypatch):
    exact = skdse.diffusion_spectral_entropy(X, solver="exact", t=2)
    full = skdse.diffusion_spectral_entropy(X, t=2, **SLQ)
    monkeypatch.setattr(solve, "FULL_BASIS_FRACTION", 0.0)
    plain = skdse.diffusion_spectral_entropy(X, t=2, **SLQ)
    assert plain == pytest.approx(full, abs=1e-6)
    assert abs(plain - exact) <= max(0.02, 0.005 * exact)


def test_plain_memory_does_not_grow_with_the_steps():
    p = entropy_params(n_lanczos_steps=30, n_probes=8, n_deflate=8)
    q = entropy_params(n_lanczos_steps=300, n_probes=8, n_deflate=8)
    n = 10**5
    assert solve.krylov_bytes(n, p, False) == solve.krylov_bytes(n, q, False)
    assert solve.krylov_bytes(n, p, False) * 30 == solve.krylov_bytes(n, p) * 4
    assert solve.uses_full_basis(n, p, available=10 * solve.krylov_bytes(n, p))
    assert not solve.uses_full_basis(n, p, available=solve.krylov_bytes(n, p))


def test_slq_runs_where_the_full_basis_does_not_fit(monkeypatch):
    # 600 points: the full basis takes 13.8 MB; 8 MB of memory was refused before
    have = 8 * 2**20
    assert have < solve.krylov_bytes(600, entropy_params())
    monkeypatch.setattr(resources, "available_memory_bytes", lambda *a: have)
    monkeypatch.setattr(solve, "available_memory_bytes", lambda *a: have, raising=False)
    h = skdse.diffusion_spectral_entropy(X, t=2, **SLQ)
    monkeypatch.undo()
    assert solve.krylov_bytes(600, entropy_params(), False) < have
    assert h == pytest.approx(skdse.diffusion_spectral_entropy(X, t=2, **SLQ), abs=1e-6)
