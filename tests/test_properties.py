"""Property-based tests (hypothesis) of the invariances and bounds of DSE and DSMI."""

import math
import warnings

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from skdse import (
    DiffusionSpectralEntropy,
    DiffusionSpectralMI,
    diffusion_spectral_entropy,
    diffusion_spectral_mutual_information,
)

from ._tolerances import EXACT_TOL

TOL = 1e-8

seeds = st.integers(0, 2**32 - 1)
sizes = st.integers(3, 40)
dims = st.integers(1, 6)
scales = st.floats(0.05, 20.0)
bandwidths = st.one_of(st.floats(0.05, 50.0), st.sampled_from(["scale", "median"]))
times = st.floats(1.0, 8.0)  # t < 1 is ill-conditioned in near-zero eigenvalues
any_times = st.floats(0.1, 8.0)
bases = st.sampled_from([2.0, math.e, 10.0, 1.5])


def _data(seed, n, d, scale=1.0):
    return scale * np.random.default_rng(seed).normal(size=(n, d))


def dse(X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # degenerate kernels are legitimate here
        return diffusion_spectral_entropy(X, **kw)


@given(seeds, sizes, dims, scales, bandwidths, any_times, bases)
def test_bounds(seed, n, d, scale, bandwidth, t, base):
    X = _data(seed, n, d, scale)
    h = dse(X, bandwidth=bandwidth, t=t, base=base)
    bound = math.log(n) / math.log(base)
    lo, hi = sorted((0.0, bound))
    assert lo - 1e-12 <= h <= hi + 1e-12


@given(seeds, sizes, dims, bandwidths, times)
def test_row_permutation_invariance(seed, n, d, bandwidth, t):
    X = _data(seed, n, d)
    perm = np.random.default_rng(seed + 1).permutation(n)
    assert abs(dse(X, bandwidth=bandwidth, t=t) - dse(X[perm], bandwidth=bandwidth, t=t)) < TOL


@given(seeds, sizes, st.integers(2, 6), bandwidths, st.floats(-100.0, 100.0))
def test_rotation_translation_invariance(seed, n, d, bandwidth, shift):
    rng = np.random.default_rng(seed)
    X = _data(seed, n, d)
    Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    Y = X @ Q + shift * rng.normal(size=d)
    assert abs(dse(X, bandwidth=bandwidth) - dse(Y, bandwidth=bandwidth)) < TOL


@given(seeds, sizes, dims, st.floats(0.2, 5.0), st.floats(1e-3, 1e3))
def test_fixed_bandwidth_scales_with_data(seed, n, d, s, c):
    X = _data(seed, n, d)
    assert abs(dse(c * X, bandwidth=c * s) - dse(X, bandwidth=s)) < TOL


@given(seeds, sizes, dims, st.sampled_from(["scale", "median"]), st.floats(1e-3, 1e3))
def test_adaptive_bandwidth_is_scale_invariant(seed, n, d, bandwidth, c):
    X = _data(seed, n, d)
    assert abs(dse(c * X, bandwidth=bandwidth) - dse(X, bandwidth=bandwidth)) < TOL


@given(seeds, sizes, dims, bandwidths, st.lists(times, min_size=2, max_size=6))
def test_non_increasing_in_t(seed, n, d, bandwidth, ts):
    X = _data(seed, n, d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        est = DiffusionSpectralEntropy(bandwidth=bandwidth).fit(X)
    ts = np.sort(ts)
    profile = est.entropy_profile(ts)
    assert np.all(np.diff(profile) <= 1e-10)
    # The profile is the function at each t, without recomputing the spectrum.
    assert abs(profile[0] - dse(X, bandwidth=bandwidth, t=float(ts[0]))) < 1e-12


@given(seeds, sizes, dims, bandwidths, times, st.floats(1.1, 100.0))
def test_base_change_divides_by_log_base(seed, n, d, bandwidth, t, base):
    X = _data(seed, n, d)
    nats = dse(X, bandwidth=bandwidth, t=t, base=math.e)
    assert abs(dse(X, bandwidth=bandwidth, t=t, base=base) - nats / math.log(base)) < 1e-10


@given(seeds, sizes, dims, st.floats(0.2, 5.0), times)
def test_stacking_twice_keeps_dse(seed, n, d, s, t):
    X = _data(seed, n, d)
    assert abs(dse(np.vstack([X, X]), bandwidth=s, t=t) - dse(X, bandwidth=s, t=t)) < TOL


@given(seeds, st.integers(3, 25), dims, st.floats(0.2, 3.0), times, st.integers(2, 4))
def test_far_apart_copies_add_log_k(seed, n, d, s, t, k):
    X = _data(seed, n, d)
    rng = np.random.default_rng(seed)
    offsets = 100.0 * s * n * rng.normal(size=(k, d))
    offsets[:, 0] = 100.0 * s * n * np.arange(k)  # pairwise separation >> sigma
    copies = np.vstack([X + o for o in offsets])
    expected = dse(X, bandwidth=s, t=t) + math.log2(k)
    assert abs(dse(copies, bandwidth=s, t=t) - expected) < 1e-7


labels = st.lists(st.integers(0, 3), min_size=6, max_size=40)


def dsmi(X, y, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return diffusion_spectral_mutual_information(X, y, **kw)


@given(seeds, st.integers(4, 40), dims, bandwidths)
def test_dsmi_zero_for_constant_labels(seed, n, d, bandwidth):
    X = _data(seed, n, d)
    assert abs(dsmi(X, np.full(n, "same"), bandwidth=bandwidth, random_state=seed)) < 1e-12


@given(seeds, st.integers(2, 40), dims, bandwidths)
def test_dsmi_zero_for_all_distinct_labels(seed, n, d, bandwidth):
    X = _data(seed, n, d)
    assert abs(dsmi(X, np.arange(n), bandwidth=bandwidth, random_state=seed)) < 1e-12


@given(seeds, dims, labels, bandwidths)
def test_dsmi_deterministic_for_fixed_seed(seed, d, y, bandwidth):
    y = np.asarray(y)
    X = _data(seed, len(y), d)
    a = dsmi(X, y, bandwidth=bandwidth, random_state=seed, n_repeats=2)
    b = dsmi(X, y, bandwidth=bandwidth, random_state=seed, n_repeats=2)
    assert a == b


@given(seeds, dims, labels, bandwidths)
def test_dsmi_conditional_invariant_to_renaming_labels(seed, d, y, bandwidth):
    y = np.asarray(y)
    assume(len(np.unique(y)) >= 2)
    X = _data(seed, len(y), d)
    perm = np.random.default_rng(seed).permutation(10)
    renamed = np.array([f"class-{perm[v]}" for v in y])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        a = DiffusionSpectralMI(bandwidth=bandwidth, n_repeats=1, random_state=0).fit(X, y)
        b = DiffusionSpectralMI(bandwidth=bandwidth, n_repeats=1, random_state=1).fit(X, renamed)
    assert abs(a.conditional_entropy_ - b.conditional_entropy_) < TOL
    by_label_a = dict(zip(a.groups_.tolist(), a.group_conditional_entropies_))
    for label, h in zip(b.groups_, b.group_conditional_entropies_):
        original = int(np.flatnonzero(perm == int(label.split("-")[1]))[0])
        assert abs(by_label_a[original] - h) < TOL


@pytest.mark.reproducibility
@pytest.mark.parametrize("n_jobs", [1, 2])
def test_dsmi_same_for_any_n_jobs(n_jobs):
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 30)
    X = rng.normal(size=(90, 4)) + 3 * y[:, None]
    serial = dsmi(X, y, random_state=3)
    # n_jobs=2 computes the terms in other processes (other BLAS threads): exact
    # solver, float64, so within the reproducibility tolerance, not bit for bit
    assert abs(dsmi(X, y, random_state=3, n_jobs=n_jobs) - serial) <= EXACT_TOL
