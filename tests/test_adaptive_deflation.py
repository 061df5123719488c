"""``n_deflate="auto"``: slq deflates more directions while its standard error is
over its share of the accuracy target (skdse/_engine/solve.py::deflation_steps)."""

import numpy as np
import pytest

from skdse import DiffusionSpectralEntropy, diffusion_spectral_entropy
from skdse._engine.operators import dense_operator
from skdse._engine.slq import slq_spectrum
from skdse._engine.solve import (
    ACCURACY_BITS,
    DEFLATE_MAX,
    DEFLATE_START,
    ERROR_SHARE,
    deflation_steps,
    krylov_bytes,
    precise_enough,
    with_deflation,
)
from skdse._params import entropy_params

# A wide Gaussian kernel on a D = 128 cube: about D + 2 comparable eigenvalues
# after the top one, more than DEFLATE_START, so 64 directions leave the probes
# a noisy block (the accuracy suite's worst rows).
X_CUBE = np.random.default_rng(0).uniform(size=(700, 128))
WIDE = dict(bandwidth=10.0, t=1, max_samples=None, solver="slq")
SMALL_TARGET = ERROR_SHARE * ACCURACY_BITS  # these entropies are ~1 bit: the 0.02-bit target


def fit(**kw):
    return DiffusionSpectralEntropy(**{**WIDE, **kw}).fit(X_CUBE)


@pytest.fixture(scope="module")
def exact():
    return diffusion_spectral_entropy(X_CUBE, **{**WIDE, "solver": "exact"})


@pytest.fixture(scope="module")
def fixed():
    return fit(n_deflate=DEFLATE_START, random_state=0)


@pytest.fixture(scope="module")
def auto():
    return fit(random_state=0)


def test_the_data_needs_more_than_the_start(fixed, exact):
    # an int is taken as given, and here its error bar is over the share
    assert fixed.spectrum_.n_deflated == DEFLATE_START
    assert fixed.entropy_std_ > SMALL_TARGET
    assert exact < 5.0  # the 0.02-bit target applies


def test_auto_deflates_until_precise(auto, fixed, exact):
    assert auto.spectrum_.n_deflated > DEFLATE_START
    assert auto.entropy_std_ <= SMALL_TARGET
    assert abs(auto.entropy_ - exact) < ACCURACY_BITS
    # the products of every run are counted
    assert auto.spectrum_.n_matvecs > fixed.spectrum_.n_matvecs


def test_auto_is_the_default_and_reproducible(auto):
    assert entropy_params().n_deflate == "auto"
    again = fit(random_state=0)
    assert again.spectrum_.n_deflated == auto.spectrum_.n_deflated
    assert abs(again.entropy_ - auto.entropy_) < 1e-9


def test_precise_data_keeps_the_start():
    X = np.random.default_rng(1).normal(size=(700, 3))
    est = DiffusionSpectralEntropy(solver="slq", max_samples=None, random_state=0).fit(X)
    assert est.spectrum_.n_deflated == DEFLATE_START


def _noisy_rule(n_deflate=4, n=700):
    op = dense_operator(X_CUBE[:n], 10.0, np.float64)
    return op, slq_spectrum(
        op, n_steps=10, n_probes=4, n_deflate=n_deflate, rng=np.random.default_rng(0)
    )


SETTINGS = entropy_params(n_probes=4, n_lanczos_steps=10, solver="slq")


def _steps(rule, n, settings, memory=lambda: None):
    calls = []

    def run(s, full):
        calls.append(s.n_deflate)
        return rule

    out = deflation_steps(rule, n, settings, run, memory)
    return out, calls


def test_doubling_stops_where_the_vectors_would_span_the_space():
    _, rule = _noisy_rule()
    assert not precise_enough(rule, with_deflation(SETTINGS, 4))
    # 1 + 2 r + 4 probes >= n: no rerun (exact would be the cheaper answer)
    _, calls = _steps(rule, 1 + 8 + 4, with_deflation(SETTINGS, 4))
    assert calls == []
    _, calls = _steps(rule, 700, with_deflation(SETTINGS, 4))
    assert calls[0] == 8 and all(b == 2 * a for a, b in zip(calls, calls[1:]))
    assert max(calls) <= DEFLATE_MAX


def test_doubling_stops_where_memory_ends():
    _, rule = _noisy_rule()
    s = with_deflation(SETTINGS, 4)
    # memory for the first doubling's vectors (plain recurrence) but not the second's
    have = krylov_bytes(700, with_deflation(s, 8), full_basis=False) + 1
    out, calls = _steps(rule, 700, s, memory=lambda: have)
    assert calls == [8]
    assert out.n_matvecs == 2 * rule.n_matvecs


def test_auto_is_accepted_and_other_strings_refused():
    X = np.random.default_rng(0).normal(size=(50, 2))
    assert DiffusionSpectralEntropy(n_deflate="auto").fit(X).entropy_ >= 0
    with pytest.raises(ValueError, match="n_deflate"):
        DiffusionSpectralEntropy(n_deflate="more").fit(X)
