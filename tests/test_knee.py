"""t="auto": the diffusion time at the knee of the entropy profile (issue 15, item 4)."""

import json
import math

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.utils._param_validation import InvalidParameterError  # noqa: E402

from skdse import (  # noqa: E402
    DiffusionSpectralEntropy,
    DiffusionSpectralMI,
    diffusion_spectral_entropy,
    diffusion_spectral_mutual_information,
)
from skdse._engine.knee import KNEE_TIMES, knee_index, knee_time  # noqa: E402
from skdse._engine.spectrum import ExactSpectrum  # noqa: E402
from skdse.cli import main  # noqa: E402
from skdse.datasets import make_branching_tree  # noqa: E402
from skdse.plotting import plot_entropy_profile  # noqa: E402
from skdse.scoring import make_dse_scorer, make_dsmi_scorer  # noqa: E402

X = np.random.default_rng(0).normal(size=(150, 5))
Y3 = np.repeat([0, 1, 2], 40)
XM = np.random.default_rng(1).normal(size=(120, 4)) + 3 * Y3[:, None]


def _knee_by_polyfit(x, y):
    """The rule written again, plainly: numpy's polyfit lines, breakpoint shared."""
    errors = []
    for c in range(1, len(x) - 1):
        left = np.polyval(np.polyfit(x[: c + 1], y[: c + 1], 1), x[: c + 1]) - y[: c + 1]
        right = np.polyval(np.polyfit(x[c:], y[c:], 1), x[c:]) - y[c:]
        errors.append(np.abs(left).sum() + np.abs(right).sum())
    return 1 + int(np.argmin(errors))


# -- the knee of a curve ----------------------------------------------------------------


@pytest.mark.parametrize("at", [3, 17, 60, 98])
def test_knee_of_a_piecewise_linear_curve_is_its_corner(at):
    x = np.arange(1.0, 101.0)
    falling_then_flat = np.where(x <= at, 5.0 * (at - x), 0.0)
    two_slopes = np.where(x <= at, 100.0 - 4.0 * x, 100.0 - 4.0 * at - 0.1 * (x - at))
    for y in (falling_then_flat, two_slopes):
        assert x[knee_index(x, y)] == at


def test_knee_of_exponential_decay():
    # PHATE's documented example (phate.vne.find_knee_point): exp(-x/10), x = 0..19 -> 8
    x = np.arange(20.0)
    assert x[knee_index(x, np.exp(-x / 10))] == 8
    # a slower decay on the same grid has a later knee
    knees = [x[knee_index(x, np.exp(-x / tau))] for tau in (2.0, 5.0, 10.0)]
    assert knees == sorted(knees) and knees[0] < knees[-1]


def test_knee_agrees_with_a_plain_polyfit_implementation():
    rng = np.random.default_rng(0)
    for _ in range(40):
        n = int(rng.integers(3, 60))
        x = np.sort(rng.choice(500, n, replace=False)).astype(float)
        y = np.exp(-x / rng.uniform(5, 200)) + 0.01 * rng.normal(size=n)
        assert knee_index(x, y) == _knee_by_polyfit(x, y)


@pytest.mark.parametrize("a, b", [(3.7, -2.0), (-0.2, 5.0), (1e-9, 0.0), (1e6, 1e6)])
def test_knee_is_invariant_to_scaling_and_shifting_the_curve(a, b):
    x = np.arange(1.0, 101.0)
    y = np.exp(-x / 7.0) + 0.3 * np.exp(-x / 40.0)
    k = knee_index(x, y)
    assert 1 <= k <= 98
    assert knee_index(x, a * y + b) == k
    assert knee_index(3.0 * x + 10.0, y) == k  # the knee moves with x


def test_a_flat_curve_has_no_knee_and_gives_the_first_point():
    x = np.arange(1.0, 101.0)
    assert knee_index(x, np.zeros(100)) == 0
    assert knee_index(x, np.full(100, 6.5)) == 0
    noise = 6.5 + 1e-14 * np.random.default_rng(0).normal(size=100)  # rounding only
    assert knee_index(x, noise) == 0
    assert knee_index(x, 1e-6 * np.exp(-x / 3)) != 0  # small is not flat: scale-free


@pytest.mark.parametrize(
    "x, y, match",
    [
        ([1.0, 2.0], [1.0, 0.0], "n >= 3"),
        ([1.0, 2.0, 3.0], [1.0, np.nan, 0.0], "finite"),
        ([1.0, 3.0, 2.0], [1.0, 0.5, 0.0], "increasing"),
        ([1.0, 2.0, 3.0], [1.0, 0.5], "one shape"),
    ],
)
def test_knee_refuses_bad_curves(x, y, match):
    with pytest.raises(ValueError, match=match):
        knee_index(x, y)


def test_knee_time_of_flat_spectra_is_one_and_base_does_not_move_it():
    assert knee_time(ExactSpectrum(np.array([1.0])), 2.0) == 1.0
    assert knee_time(ExactSpectrum(np.ones(7)), 2.0) == 1.0  # all isolated: log N for all t
    spec = ExactSpectrum(np.array([1.0, 0.8, 0.6, 0.3, 0.1, 0.0]))
    t = knee_time(spec, 2.0)
    assert t in KNEE_TIMES and 1.0 < t < 100.0
    assert knee_time(spec, math.e) == knee_time(spec, 10.0) == t


# -- the function and the estimator -----------------------------------------------------


@pytest.mark.parametrize("order", [1.0, 2.0, np.inf])
def test_dse_auto_is_dse_at_the_knee_of_its_profile(order):
    est = DiffusionSpectralEntropy(t="auto", order=order).fit(X)
    profile = est.entropy_profile(KNEE_TIMES)
    assert type(est.t_) is float
    assert est.t_ == KNEE_TIMES[knee_index(KNEE_TIMES, profile)] > 1.0
    h = diffusion_spectral_entropy(X, t="auto", order=order)
    assert h == est.entropy_ == diffusion_spectral_entropy(X, t=est.t_, order=order)


def test_fixed_t_is_kept_as_t_():
    est = DiffusionSpectralEntropy(t=2.5).fit(X)
    assert est.t_ == 2.5 and type(est.t_) is float


def test_slq_auto_is_reproducible_and_matches_its_own_profile():
    big = np.random.default_rng(3).normal(size=(400, 6))
    kw = dict(t="auto", solver="slq", n_probes=8, n_deflate=16, random_state=7)
    a = DiffusionSpectralEntropy(**kw).fit(big)
    b = DiffusionSpectralEntropy(**kw).fit(big)
    assert a.solver_ == "slq"
    assert a.t_ == b.t_ and a.entropy_ == b.entropy_
    assert a.t_ == KNEE_TIMES[knee_index(KNEE_TIMES, a.entropy_profile(KNEE_TIMES))]
    assert a.entropy_ == diffusion_spectral_entropy(big, **{**kw, "t": a.t_})
    exact = DiffusionSpectralEntropy(t="auto", solver="exact").fit(big)
    assert abs(a.t_ - exact.t_) <= 1  # the quadrature's profile is close to the exact one


def test_subsample_ensemble_uses_the_knee_of_the_mean_profile():
    est = DiffusionSpectralEntropy(t="auto", max_samples=60, n_subsamples=3, random_state=0)
    est.fit(X)
    assert est.t_ == KNEE_TIMES[knee_index(KNEE_TIMES, est.entropy_profile(KNEE_TIMES))]
    assert est.entropy_ == est.entropy_profile(est.t_)


def test_flat_profile_gives_t_one():
    # a bandwidth so small every point is isolated: all eigenvalues 1, DSE = log2 N for every t
    with pytest.warns(UserWarning):
        est = DiffusionSpectralEntropy(t="auto", bandwidth=1e-6).fit(X)
    assert est.t_ == 1.0 and est.entropy_ == pytest.approx(np.log2(X.shape[0]))


def test_score_reuses_the_knee_of_fit():
    tree, _ = make_branching_tree(3, 40, 10, random_state=0)
    est = DiffusionSpectralEntropy(t="auto").fit(X[:, :3])
    other = DiffusionSpectralEntropy(t="auto").fit(tree[:, :3]).t_
    assert other != est.t_  # the scored data's own knee differs: score must not use it
    expected = diffusion_spectral_entropy(tree[:, :3], t=est.t_, bandwidth=est.bandwidth_)
    assert est.score(tree[:, :3]) == expected


def test_auto_is_the_only_string_t():
    for bad in ("knee", "Auto", ""):
        with pytest.raises(InvalidParameterError, match="'t' parameter"):
            diffusion_spectral_entropy(X, t=bad)
        with pytest.raises(InvalidParameterError, match="'t' parameter"):
            DiffusionSpectralMI(t=bad).fit(XM, Y3)


# -- DSMI -------------------------------------------------------------------------------


def test_dsmi_auto_uses_the_knee_of_the_size_matched_marginal_profile():
    Xs, ys = XM[::3], Y3[::3]  # 40 points, 3 groups: 100 fits stay quick
    kw = dict(n_repeats=2, random_state=0)
    est = DiffusionSpectralMI(t="auto", **kw).fit(Xs, ys)
    # the marginal entropy_ as a function of t, from separate fits at each t
    profile = [DiffusionSpectralMI(t=t, **kw).fit(Xs, ys).entropy_ for t in KNEE_TIMES]
    assert est.t_ == KNEE_TIMES[knee_index(KNEE_TIMES, profile)]
    at_knee = DiffusionSpectralMI(t=est.t_, **kw).fit(Xs, ys)
    # the same terms and the same means: only the summation order could differ
    for name in ("mutual_information_", "entropy_", "conditional_entropy_"):
        assert getattr(est, name) == pytest.approx(getattr(at_knee, name), abs=1e-12)
    fn = diffusion_spectral_mutual_information(Xs, ys, t="auto", **kw)
    assert fn == est.mutual_information_


def test_dsmi_auto_with_subsampled_groups_and_many_repeats():
    kw = dict(n_repeats=11, max_samples=25, random_state=0)
    est = DiffusionSpectralMI(t="auto", **kw).fit(XM, Y3)
    at_knee = DiffusionSpectralMI(t=est.t_, **kw).fit(XM, Y3)
    assert est.mutual_information_ == pytest.approx(at_knee.mutual_information_, abs=1e-12)
    np.testing.assert_allclose(
        est.group_marginal_stds_, at_knee.group_marginal_stds_, rtol=0, atol=1e-12
    )


def test_dsmi_score_reuses_the_knee_of_fit():
    est = DiffusionSpectralMI(t="auto", n_repeats=2, random_state=0).fit(XM, Y3)
    X2 = np.random.default_rng(5).normal(size=(90, 4)) + 6 * Y3[:90, None]
    expected = diffusion_spectral_mutual_information(
        X2, Y3[:90], t=est.t_, bandwidth=est.bandwidth_, n_repeats=2, random_state=0
    )
    own = DiffusionSpectralMI(t="auto", n_repeats=2, random_state=0).fit(X2, Y3[:90]).t_
    assert own != est.t_  # so the test tells the two apart
    assert est.score(X2, Y3[:90]) == expected


# -- scorers, command line, plot ----------------------------------------------------------


def test_scorers_pick_the_knee_of_each_embedding():
    pca = PCA(3).fit(XM)
    Z = pca.transform(XM)
    t_z = DiffusionSpectralEntropy(t="auto").fit(Z).t_
    assert make_dse_scorer(t="auto")(pca, XM) == diffusion_spectral_entropy(Z, t=t_z)
    dsmi = make_dsmi_scorer(t="auto", n_repeats=2, random_state=0)(pca, XM, Y3)
    assert dsmi == diffusion_spectral_mutual_information(
        Z, Y3, t="auto", n_repeats=2, random_state=0
    )
    assert "t='auto'" in repr(make_dse_scorer(t="auto"))


def test_cli_t_auto_reports_the_knee(tmp_path, capsys):
    # in this process (test_cli.py runs the command in subprocesses)
    np.save(tmp_path / "x.npy", XM)
    np.save(tmp_path / "y.npy", Y3)
    assert main(["entropy", str(tmp_path / "x.npy"), "--t", "auto", "--json", "--quiet"]) == 0
    row = json.loads(capsys.readouterr().out)
    est = DiffusionSpectralEntropy(t="auto", random_state=0).fit(XM)
    assert row["t"] == est.t_ and row["DSE"] == est.entropy_
    argv = ["mi", str(tmp_path / "x.npy"), "--labels", str(tmp_path / "y.npy"), "--t", "auto"]
    assert main([*argv, "--json", "--quiet", "--n-repeats", "2"]) == 0
    row = json.loads(capsys.readouterr().out)
    mi = DiffusionSpectralMI(t="auto", n_repeats=2, random_state=0).fit(XM, Y3)
    assert row["t"] == mi.t_ and row["DSMI"] == mi.mutual_information_
    assert main(["entropy", str(tmp_path / "x.npy"), "--t", "knee"]) == 2
    assert "'t' parameter" in capsys.readouterr().err
    assert main(["entropy", str(tmp_path / "x.npy"), "--t", "3", "--json", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["t"] == 3.0


def test_plot_entropy_profile_marks_the_knee():
    est = DiffusionSpectralEntropy(t="auto").fit(X)
    ax = plot_entropy_profile(est)
    (vline,) = [line for line in ax.lines if line.get_label().startswith("knee")]
    assert vline.get_label() == f"knee: t={est.t_:g}"
    assert list(vline.get_xdata()) == [est.t_, est.t_]
    star = [line for line in ax.lines if line.get_marker() == "*"]
    assert len(star) == 1 and star[0].get_ydata()[0] == est.entropy_
    assert ax.get_legend() is not None
    # not asked: no knee; asked for a fixed-t fit: the knee of its spectrum
    assert len(plot_entropy_profile(est, knee=False).lines) == 1
    fixed = DiffusionSpectralEntropy(t=2).fit(X)
    assert len(plot_entropy_profile(fixed).lines) == 1
    labels = [line.get_label() for line in plot_entropy_profile(fixed, knee=True).lines]
    assert f"knee: t={est.t_:g}" in labels  # same data and kernel: the same knee
