"""Rényi entropies of the spectrum (issue 15, item 3), at the engine level.

``H_alpha = log(sum p_i^alpha) / (1 - alpha)`` of ``p_i = |lambda_i|^t / sum_j
|lambda_j|^t``; ``order=1`` is Shannon's entropy, ``order=inf`` is
``-log max p_i``. Checked on the exact spectrum (``spectral_entropy``,
``ExactSpectrum``), on slq's quadrature rules (``QuadratureSpectrum``, real and
synthetic) and on subsample ensembles (``EnsembleSpectrum``).
"""

import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from skdse import DiffusionSpectralEntropy
from skdse._engine.operators import dense_operator
from skdse._engine.slq import QuadratureSpectrum, slq_spectrum
from skdse._engine.spectrum import ExactSpectrum, spectral_entropy
from skdse._entropy import EnsembleSpectrum

from ._data import DATASETS
from ._tolerances import EXACT_TOL

INF = math.inf
#: Rounding of the Rényi formulas on spectra of <= 100 eigenvalues: a few
#: logs and sums of numbers <= 1, relative ~1e-15 each; 1e-12 leaves room.
ROUND = 1e-12


def _direct(eigenvalues, t, order, base=2.0):
    """The textbook formula, in plain numpy (fine where nothing under- or overflows)."""
    w = np.abs(np.asarray(eigenvalues, dtype=float)) ** t
    p = w / w.sum()
    p = p[p > 0]
    if order == INF:
        return -math.log(p.max()) / math.log(base)
    if order == 1:
        return float(-(p * np.log(p)).sum() / math.log(base))
    return float(np.log((p**order).sum()) / (1 - order) / math.log(base))


def _random_spectrum(rng, n, n_zero=0):
    lam = np.concatenate([[1.0], rng.uniform(-0.05, 1.0, n - 1 - n_zero), np.zeros(n_zero)])
    return rng.permutation(lam)


def _rule(rng, n=200, n_fixed=3, n_probes=6, steps=8, zero_slots=2):
    """A synthetic slq rule: Ritz values in [-1, 1], nonnegative weights, unused slots."""

    def block(k):
        nodes = rng.uniform(-1.0, 1.0, (k, steps))
        weights = rng.uniform(0.0, 20.0, (k, steps))
        nodes[:, steps - zero_slots :] = 0.0  # a recurrence that broke down early
        weights[:, steps - zero_slots :] = 0.0
        return nodes, weights

    (fn, fw), (pn, pw) = block(n_fixed), block(n_probes)
    return QuadratureSpectrum(n, fn, fw, pn, pw, n_matvecs=steps)


def _real_rule(seed, n, n_probes=4):
    X = np.random.default_rng(seed).normal(size=(n, 3))
    op = dense_operator(X, 1.0)
    rng = np.random.default_rng(seed)
    return slq_spectrum(op, n_steps=10, n_probes=n_probes, n_deflate=3, rng=rng)


# --- the exact spectrum -----------------------------------------------------


@pytest.mark.parametrize("order", [0.05, 0.5, 0.99, 1.0, 1.01, 2.0, 3.7, 20.0, INF])
@pytest.mark.parametrize("t", [1.0, 2.0, 3.5])
def test_exact_matches_the_direct_formula(order, t):
    rng = np.random.default_rng(0)
    for n, n_zero in [(2, 0), (50, 0), (80, 30)]:
        lam = _random_spectrum(rng, n, n_zero)
        for base in (2.0, math.e, 10.0):
            expected = _direct(lam, t, order, base)
            got = spectral_entropy(lam, t, base, order)
            assert got == pytest.approx(expected, rel=ROUND, abs=ROUND)
            assert ExactSpectrum(lam).entropy(t, base, order) == got


def test_known_values():
    lam = [1.0, 0.5, 0.5]  # p = (1/2, 1/4, 1/4) at t = 1
    assert spectral_entropy(lam, order=2) == pytest.approx(-math.log2(0.375), abs=1e-15)
    assert spectral_entropy(lam, order=INF) == 1.0
    assert spectral_entropy(lam, order=0.5) == pytest.approx(
        2 * math.log2(0.5**0.5 + 2 * 0.25**0.5), abs=1e-15
    )
    # a uniform spectrum has log N bits at every order; one eigenvalue has 0
    for order in (1e-3, 0.5, 2.0, 1e6, INF):
        assert spectral_entropy(np.ones(8), order=order) == pytest.approx(3.0, abs=1e-13)
        assert spectral_entropy([0.7], order=order) == 0.0
        assert spectral_entropy(np.zeros(3), order=order) == 0.0


def test_zero_eigenvalues_do_not_count():
    # 0^alpha = 0 for every alpha > 0: zeros change nothing, even as alpha -> 0
    lam = np.array([1.0, 0.6, 0.3, 0.1])
    padded = np.concatenate([lam, np.zeros(500)])
    for order in (1e-9, 0.3, 1.0, 2.0, INF):
        assert spectral_entropy(padded, 2.0, order=order) == pytest.approx(
            spectral_entropy(lam, 2.0, order=order), abs=1e-14
        )
    # order -> 0 is Hartley's entropy: log of the number of nonzero eigenvalues
    assert spectral_entropy(padded, 2.0, order=1e-300) == pytest.approx(2.0, abs=1e-12)


def test_large_t_keeps_the_tied_top_eigenvalues():
    # As t grows, p concentrates on the largest |lambda|: k ties give log k at every order,
    # although |lambda|^t underflows for every other eigenvalue.
    lam = [1.0, -1.0, 1.0, 0.999, 0.5, 0.0]
    for order in (0.1, 0.5, 1.0, 2.0, 1e3, INF):
        assert spectral_entropy(lam, t=1e6, order=order) == pytest.approx(math.log2(3), abs=1e-12)
        # the same when every eigenvalue is tiny (the weights are taken relative to the top)
        assert spectral_entropy(1e-300 * np.array(lam), t=1e6, order=order) == pytest.approx(
            math.log2(3), abs=1e-12
        )


@pytest.mark.parametrize("side", [-1.0, 1.0])
def test_order_one_is_the_limit_on_both_sides(side):
    rng = np.random.default_rng(1)
    lam = _random_spectrum(rng, 300, 40)
    shannon = spectral_entropy(lam, 2.0)
    prev = None
    for k in range(1, 16):
        delta = 10.0**-k
        h = spectral_entropy(lam, 2.0, order=1.0 + side * delta)
        # H_alpha = H - (alpha - 1) Var_p(log p) / 2 + O((alpha - 1)^2): |H_a - H| <= C delta,
        # to the last digits (the naive log(sum p^alpha) / (1 - alpha) loses eps / delta)
        assert abs(h - shannon) <= 20.0 * delta + 4e-15
        assert side * (h - shannon) <= 4e-15  # below Shannon above 1, above it below 1
        if prev is not None:
            assert abs(h - shannon) <= abs(prev - shannon) + 4e-15
        prev = h


def test_t_broadcasts_with_an_order():
    lam = _random_spectrum(np.random.default_rng(2), 40, 5)
    ts = np.array([[1.0, 2.0, 3.0], [0.5, 7.0, 40.0]])
    for order in (0.5, 2.0, INF):
        got = spectral_entropy(lam, ts, 2.0, order)
        assert got.shape == ts.shape
        expected = [spectral_entropy(lam, float(t), 2.0, order) for t in ts.ravel()]
        np.testing.assert_array_equal(got.ravel(), expected)


def _shannon_before(eigenvalues, t, base):
    """spectral_entropy as it was before ``order`` existed (commit a4efcd6), verbatim."""
    t_arr = np.atleast_1d(np.asarray(t, dtype=np.float64))
    with np.errstate(divide="ignore"):
        log_abs = np.log(np.abs(np.asarray(eigenvalues, dtype=np.float64)))
    lw = t_arr.ravel()[:, None] * log_abs[None, :]
    n_nonzero = max(int(np.count_nonzero(np.isfinite(lw[0]))), 1)
    shift = np.max(lw, axis=1, keepdims=True)
    shift = np.where(np.isfinite(shift), shift, 0.0)
    w = np.exp(lw - shift)
    z = w.sum(axis=1, keepdims=True)
    p = w / z
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(p > 0, p * np.log(p), 0.0)
    h = np.clip(-plogp.sum(axis=1), 0.0, np.log(n_nonzero)) / np.log(base) + 0.0
    return float(h[0]) if np.ndim(t) == 0 else h.reshape(np.shape(t))


def _slq_shannon_before(rule, t, base):
    """QuadratureSpectrum.entropy and entropy_std before ``order`` existed, verbatim."""
    with np.errstate(divide="ignore", invalid="ignore"):

        def fg(nodes):
            log_f = t * np.log(np.abs(nodes))
            f = np.exp(log_f)
            return f, np.where(f > 0, f * log_f, 0.0)

        f, g = fg(rule.fixed_nodes)
        z0 = 1.0 + float(np.sum(rule.fixed_weights * f))
        s0 = float(np.sum(rule.fixed_weights * g))
        f, g = fg(rule.probe_nodes)
    zp, sp = np.sum(rule.probe_weights * f, axis=1), np.sum(rule.probe_weights * g, axis=1)

    def nats(z, s):
        z = np.maximum(z, 1.0)
        return np.clip(np.log(z) - s / z, 0.0, np.log(rule.n))

    h = float(nats(np.array(z0 + zp.mean()), np.array(s0 + sp.mean())) / np.log(base))
    k = zp.size
    zl, sl = z0 + (zp.sum() - zp) / (k - 1), s0 + (sp.sum() - sp) / (k - 1)
    hl = nats(zl, sl)
    std = float(np.sqrt((k - 1) / k * np.sum((hl - hl.mean()) ** 2)) / abs(np.log(base)))
    return h, std


def test_shannon_unchanged_bit_for_bit():
    # The same process and arithmetic as before: equality, not a tolerance.
    rng = np.random.default_rng(3)
    for n, n_zero in [(1, 0), (7, 2), (300, 100)]:
        lam = _random_spectrum(rng, n, n_zero)
        for t in (0.5, 1.0, 2.0, 1e4, np.array([1.0, 3.0])):
            before = _shannon_before(lam, t, 2.0)
            for h in (spectral_entropy(lam, t, 2.0), spectral_entropy(lam, t, 2.0, order=1)):
                np.testing.assert_array_equal(h, before)
            np.testing.assert_array_equal(ExactSpectrum(lam).entropy(t, 2.0, 1.0), before)
    for rule in (_rule(rng), _real_rule(0, 60)):
        for t in (1.0, 2.0, 5.0):
            h, std = _slq_shannon_before(rule, t, 2.0)
            assert rule.entropy(t, 2.0) == rule.entropy(t, 2.0, order=1.0) == h
            # the standard error is now the jackknife of entropy_jackknife's replicates
            # (shared with DSMI's error bar): the same formula, summed in another order
            assert rule.entropy_std(t, 2.0) == rule.entropy_std(t, 2.0, order=1.0)
            assert abs(rule.entropy_std(t, 2.0) - std) <= 1e-12 * abs(std)


@pytest.mark.parametrize("order", [0.0, -1.0, math.nan, -INF, "two", None])
def test_bad_order_names_the_parameter(order):
    rule = _rule(np.random.default_rng(4))
    ensemble = EnsembleSpectrum((ExactSpectrum(np.ones(3)),))
    for call in (
        lambda: spectral_entropy([1.0, 0.5], order=order),
        lambda: ExactSpectrum(np.ones(3)).entropy_std(1.0, 2.0, order),
        lambda: rule.entropy(1.0, 2.0, order),
        lambda: rule.entropy_std(1.0, 2.0, order),
        lambda: ensemble.entropy(1.0, 2.0, order),
    ):
        with pytest.raises((TypeError, ValueError), match="order"):
            call()


# --- properties, exact and slq rules ----------------------------------------

eigenvalue = st.one_of(
    st.just(0.0), st.floats(-1.0, 1.0), st.floats(1e-300, 1e-8), st.just(1.0), st.just(-1.0)
)
# a diffusion operator always has the eigenvalue 1: at least one eigenvalue is nonzero
spectra = st.lists(eigenvalue, min_size=1, max_size=60).filter(any)
diffusion_times = st.one_of(st.floats(0.5, 10.0), st.floats(10.0, 1e6))
orders = st.lists(
    st.one_of(st.floats(1e-3, 1e3), st.floats(0.5, 1.5), st.just(1.0), st.just(INF)),
    min_size=2,
    max_size=8,
)
bases = st.sampled_from([2.0, math.e, 10.0])
seeds = st.integers(0, 2**32 - 1)


def _non_increasing(values):
    values = np.asarray(values)
    return np.all(np.diff(values) <= ROUND * (1.0 + np.abs(values[:-1])))


@given(spectra, diffusion_times, orders, bases)
def test_exact_non_increasing_in_order_and_bounded(lam, t, alphas, base):
    alphas = sorted(alphas)
    h = [spectral_entropy(lam, t, base, a) for a in alphas]
    assert _non_increasing(h), (alphas, h)
    n_nonzero = max(np.count_nonzero(lam), 1)
    assert all(0.0 <= x <= math.log(len(lam)) / math.log(base) + ROUND for x in h)
    assert all(0.0 <= x <= math.log(n_nonzero) / math.log(base) + ROUND for x in h)


@given(seeds, st.integers(2, 400), st.integers(0, 4), st.integers(0, 8), diffusion_times, orders)
def test_slq_rule_non_increasing_in_order_and_bounded(seed, n, n_fixed, n_probes, t, alphas):
    rule = _rule(np.random.default_rng(seed), n, n_fixed, n_probes)
    alphas = sorted(alphas)
    h = [rule.entropy(t, 2.0, a) for a in alphas]
    assert _non_increasing(h), (alphas, h)
    assert all(0.0 <= x <= math.log2(n) + ROUND for x in h)
    std = [rule.entropy_std(t, 2.0, a) for a in alphas]
    assert all(np.isfinite(s) and s >= 0.0 for s in std)
    if n_probes < 2:
        assert std == [0.0] * len(alphas)


@given(seeds, st.integers(3, 40), diffusion_times, orders)
def test_real_slq_rule_non_increasing_in_order(seed, n, t, alphas):
    rule = _real_rule(seed, n)
    alphas = sorted(alphas)
    assert _non_increasing([rule.entropy(t, 2.0, a) for a in alphas])


def _rules_and_spectra():
    rng = np.random.default_rng(5)
    return [
        ExactSpectrum(_random_spectrum(rng, 200, 50)),
        ExactSpectrum(np.array([1.0, 0.9, 0.9, 0.2])),
        _rule(rng),
        _real_rule(1, 80),
    ]


@pytest.mark.parametrize("spec", _rules_and_spectra(), ids=["exact", "ties", "rule", "slq"])
@pytest.mark.parametrize("t", [1.0, 3.0])
def test_order_inf_is_the_limit_of_large_orders(spec, t):
    h_inf = spec.entropy(t, 2.0, INF)
    assert h_inf > 0.0
    for order in (2.0, 10.0, 1e3, 1e6, 1e12, 1e300):
        h = spec.entropy(t, 2.0, order)
        # H_inf <= H_alpha <= alpha / (alpha - 1) H_inf (Rényi entropies of one distribution)
        assert h_inf - ROUND <= h <= order / (order - 1.0) * h_inf + ROUND
    assert spec.entropy(t, 2.0, 1e300) == pytest.approx(h_inf, abs=ROUND)


@pytest.mark.parametrize("spec", _rules_and_spectra(), ids=["exact", "ties", "rule", "slq"])
@pytest.mark.parametrize("side", [-1.0, 1.0])
def test_order_one_is_the_limit_for_every_spectrum(spec, side):
    shannon = spec.entropy(2.0, 2.0)
    for delta in (1e-3, 1e-6, 1e-9, 1e-12):
        h = spec.entropy(2.0, 2.0, 1.0 + side * delta)
        assert abs(h - shannon) <= 100.0 * delta + 1e-13
        std = spec.entropy_std(2.0, 2.0, 1.0 + side * delta)
        assert abs(std - spec.entropy_std(2.0, 2.0)) <= 100.0 * delta + 1e-13


@pytest.mark.parametrize("spec", _rules_and_spectra(), ids=["exact", "ties", "rule", "slq"])
def test_order_and_time_duality(spec):
    # H_alpha(t) = (log Z(t alpha) - alpha log Z(t)) / (1 - alpha) = H_{1/alpha}(alpha t):
    # both sides integrate |x|^t and |x|^(t alpha), so it holds for a quadrature rule too.
    for order in (0.25, 0.5, 2.0, 3.0):
        for t in (1.0, 2.5):
            assert spec.entropy(t, 2.0, order) == pytest.approx(
                spec.entropy(order * t, 2.0, 1.0 / order), abs=ROUND
            )


def test_slq_rule_broadcasts_t():
    rule = _real_rule(2, 50)
    ts = np.array([[1.0, 2.0], [3.0, 50.0]])
    for order in (0.5, 2.0, INF):
        for method in (rule.entropy, rule.entropy_std):
            got = method(ts, 2.0, order)
            assert got.shape == ts.shape
            np.testing.assert_array_equal(got.ravel(), [method(t, 2.0, order) for t in ts.ravel()])


def test_ensemble_passes_the_order_through():
    rng = np.random.default_rng(6)
    members = (ExactSpectrum(_random_spectrum(rng, 30, 3)), _real_rule(3, 30))
    ensemble = EnsembleSpectrum(members)
    for order in (0.5, 1.0, 2.0, INF):
        each = [m.entropy(2.0, 2.0, order) for m in members]
        assert ensemble.entropy(2.0, 2.0, order) == pytest.approx(np.mean(each), abs=1e-15)
        assert ensemble.entropy_std(2.0, 2.0, order) == pytest.approx(np.std(each), abs=1e-15)
    assert ensemble.entropy(2.0, 2.0, 2.0) < ensemble.entropy(2.0, 2.0, 0.5)
    ts = np.array([1.0, 2.0])
    assert ensemble.entropy(ts, 2.0, 2.0).shape == (2,)


# --- slq against exact on the repository's data sets ------------------------

N = 1000


@pytest.fixture(scope="module")
def spectra_of_datasets():
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for name in sorted(DATASETS):
            X = DATASETS[name](N)
            exact = DiffusionSpectralEntropy(solver="exact").fit(X).spectrum_
            slq = DiffusionSpectralEntropy(solver="slq", random_state=0).fit(X).spectrum_
            out[name] = exact, slq
    return out


@pytest.mark.parametrize("name", sorted(DATASETS))
@pytest.mark.parametrize("order", [0.5, 2.0, INF])
def test_slq_agrees_with_exact_for_renyi_orders(spectra_of_datasets, name, order):
    # The tolerance of the Shannon check in tests/test_slq.py. The rule integrates
    # |x|^(t order); for t * order < 1 that function is not smooth at 0 and both
    # solvers are ill-conditioned there (see spectral_entropy), so t * order >= 1.
    exact, slq = spectra_of_datasets[name]
    assert isinstance(slq, QuadratureSpectrum) and isinstance(exact, ExactSpectrum)
    for t in (1.0, 2.0, 5.0):
        if t * order < 1:
            continue
        e = exact.entropy(t, 2.0, order)
        assert abs(slq.entropy(t, 2.0, order) - e) <= max(0.02, 0.005 * e), (t, e)


def test_order_reaches_every_public_entry_point(tmp_path):
    """``order`` through the function, the estimators, the scorers, the profile and the CLI."""
    import json
    import subprocess
    import sys

    from sklearn.preprocessing import FunctionTransformer

    from skdse import (
        DiffusionSpectralEntropy,
        DiffusionSpectralMI,
        diffusion_spectral_entropy,
        diffusion_spectral_mutual_information,
    )
    from skdse.scoring import make_dse_scorer, make_dsmi_scorer

    X = np.random.default_rng(1).normal(size=(120, 3))
    y = np.repeat([0, 1, 2], 40)
    est = DiffusionSpectralEntropy(order=2.0).fit(X)
    direct = spectral_entropy(est.eigenvalues_, 1.0, 2.0, order=2.0)
    shannon = diffusion_spectral_entropy(X)
    assert abs(est.entropy_ - direct) <= EXACT_TOL
    assert est.entropy_ < shannon - 0.1  # the order changed the number
    assert abs(diffusion_spectral_entropy(X, order=2.0) - direct) <= EXACT_TOL
    assert abs(est.entropy_profile(1.0) - direct) <= EXACT_TOL
    identity = FunctionTransformer().fit(X)
    assert abs(make_dse_scorer(order=2.0)(identity, X) - direct) <= EXACT_TOL
    mi = diffusion_spectral_mutual_information(X, y, order=2.0, random_state=0)
    assert mi != diffusion_spectral_mutual_information(X, y, random_state=0)
    est_mi = DiffusionSpectralMI(order=2.0, random_state=0).fit(X, y)
    assert abs(est_mi.mutual_information_ - mi) <= EXACT_TOL
    assert abs(make_dsmi_scorer(order=2.0, random_state=0)(identity, X, y) - mi) <= EXACT_TOL
    np.save(tmp_path / "X.npy", X)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "skdse",
            "entropy",
            str(tmp_path / "X.npy"),
            "--order",
            "2",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert abs(json.loads(out.stdout)["DSE"] - direct) <= EXACT_TOL
