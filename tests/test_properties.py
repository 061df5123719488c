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


# The hard regions, searched on purpose: magnitudes near the float64 limits,
# majority-duplicate rows, one far outlier, integer grids with tied distances
# and tiny N (issue 12, item 8).

magnitudes = st.integers(-300, 300).map(lambda k: 10.0**k)
tiny_sizes = st.integers(2, 5)
adaptive = st.sampled_from(["scale", "median"])


def _close(a, b, rel=TOL):
    return abs(a - b) <= rel * max(1.0, abs(a), abs(b))


def _in_bounds(h, n, base=2.0):
    return -1e-12 <= h <= math.log(n) / math.log(base) + 1e-12


@given(seeds, st.integers(2, 20), st.integers(1, 4), adaptive, magnitudes)
def test_adaptive_bandwidth_scale_invariant_at_any_magnitude(seed, n, d, bandwidth, c):
    X = _data(seed, n, d)
    h = dse(c * X, bandwidth=bandwidth)
    assert _in_bounds(h, n)
    assert _close(h, dse(X, bandwidth=bandwidth))


@given(seeds, st.integers(2, 20), st.integers(1, 4), magnitudes, st.floats(0.2, 5.0))
def test_fixed_bandwidth_at_any_magnitude(seed, n, d, c, s):
    X = _data(seed, n, d)
    h = dse(c * X, bandwidth=c * s)
    assert _in_bounds(h, n)
    assert _close(h, dse(X, bandwidth=s))


@given(seeds, st.integers(1, 6), st.integers(4, 30), st.integers(1, 16), adaptive, scales)
def test_majority_duplicates(seed, n_other, n_dup, d, bandwidth, shift):
    rng = np.random.default_rng(seed)
    X = np.r_[np.repeat(rng.normal(size=(1, d)), n_dup, axis=0), rng.normal(size=(n_other, d))]
    X = X[rng.permutation(len(X))]
    h = dse(X, bandwidth=bandwidth)
    # the kernel has one row per distinct point: at most that many nonzero eigenvalues
    assert -1e-12 <= h <= math.log2(n_other + 1) + 1e-9
    moved = X + shift * 100.0 * rng.normal(size=d)
    assert _close(dse(moved, bandwidth=bandwidth), h, 1e-7)


@given(seeds, st.integers(3, 20), st.integers(1, 4), st.integers(3, 300), st.floats(0.5, 3.0))
def test_one_far_outlier_is_isolated(seed, n, d, k, s):
    X = _data(seed, n, d)
    outlier = 10.0**k * np.random.default_rng(seed + 1).normal(size=(1, d))
    assume(np.abs(outlier).max() > 1e3 * (s + np.abs(X).max()))
    with_outlier = np.r_[X, outlier]
    est = DiffusionSpectralEntropy(bandwidth=s, solver="exact")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        alone = est.fit(X).eigenvalues_
        both = est.fit(with_outlier).eigenvalues_
    # the outlier adds one eigenvalue 1 and leaves the others as they were
    np.testing.assert_allclose(both, np.sort(np.r_[alone, 1.0])[::-1], atol=1e-12)
    h = dse(with_outlier, bandwidth="scale")
    assert _in_bounds(h, n + 1)


grid_bandwidths = st.one_of(st.floats(0.3, 3.0), adaptive, st.sampled_from(["knn"]))


def _kernel(bandwidth) -> dict:
    """The keywords of a drawn kernel: "knn" stands for ``affinity="knn"``."""
    return dict(affinity="knn") if bandwidth == "knn" else dict(bandwidth=bandwidth)


@given(seeds, st.integers(4, 40), st.integers(1, 3), st.integers(1, 4), grid_bandwidths)
def test_integer_grids_permutation_invariant(seed, n, d, side, bandwidth):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, side + 1, size=(n, d)).astype(float)
    assume(len(np.unique(X, axis=0)) >= 2)
    perm = rng.permutation(n)
    kw = dict(_kernel(bandwidth), n_neighbors=min(5, n - 1))
    h = dse(X, **kw)
    assert _in_bounds(h, n)
    assert abs(dse(X[perm], **kw) - h) < 1e-9


@given(seeds, tiny_sizes, st.integers(1, 3), grid_bandwidths, magnitudes)
def test_tiny_n(seed, n, d, bandwidth, c):
    X = _data(seed, n, d)
    kw = dict(_kernel(bandwidth), n_neighbors=1)
    h = dse(X, **kw)
    assert _in_bounds(h, n)
    assert abs(dse(X[::-1], **kw) - h) < 1e-9
    if bandwidth in ("scale", "median", "knn"):
        assert _close(dse(c * X, **kw), h)
