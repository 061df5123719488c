"""The checks at the public entry points (skdse/_validation.py): y, and the warnings.

The degenerate-kernel warning is raised by each public entry point, aimed
at the caller. The engine returns the kernel's diagnostics with its result and warns about
nothing; the function, estimator method or scorer the user called raises
the ``UserWarning`` from them, so that its ``filename`` is the caller's
file (this one, or scikit-learn's when scikit-learn makes the call), never
a file inside skdse.
"""

import os
import warnings

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline

import skdse
from skdse import (
    DiffusionSpectralEntropy,
    DiffusionSpectralMI,
    diffusion_spectral_entropy,
    diffusion_spectral_mutual_information,
)
from skdse._entropy import compute_dse
from skdse._mi import compute_dsmi
from skdse._params import entropy_params
from skdse._validation import check_X
from skdse.scoring import make_dse_scorer, make_dsmi_scorer

from ._data import X_OK, dsmi_est, dsmi_fn

Y = np.repeat([0, 1, 2], 20)
X = np.random.default_rng(0).uniform(size=(60, 3)) + Y[:, None]
HUGE = 1e4  # every affinity ~1: "too large"
TINY = 1e-4  # every point isolated: "too small"
MI = dict(n_repeats=2, random_state=0)
SKDSE_DIR = os.path.dirname(os.path.abspath(skdse.__file__)) + os.sep


def degenerate(call, match="too large"):
    """``call()``'s warnings of a degenerate kernel, checking there is exactly one."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        call()
    hits = [w for w in record if w.category is UserWarning and match in str(w.message)]
    assert len(hits) == 1, [str(w.message) for w in record]
    return hits[0]


def aimed_here(call, match="too large"):
    assert degenerate(call, match).filename == __file__


def aimed_outside_skdse(call):
    filename = os.path.abspath(degenerate(call).filename)
    assert not filename.startswith(SKDSE_DIR), filename


def test_functions_warn_at_the_callers_line():
    aimed_here(lambda: diffusion_spectral_entropy(X, bandwidth=HUGE))
    aimed_here(lambda: diffusion_spectral_entropy(X, bandwidth=TINY), match="too small")
    aimed_here(lambda: diffusion_spectral_mutual_information(X, Y, bandwidth=HUGE, **MI))
    aimed_here(
        lambda: diffusion_spectral_mutual_information(X, Y, bandwidth=TINY, **MI),
        match="too small",
    )


def test_estimator_fit_and_score_warn_at_the_callers_line():
    est = DiffusionSpectralEntropy(bandwidth=HUGE)
    aimed_here(lambda: est.fit(X))
    aimed_here(lambda: est.score(X))
    mi = DiffusionSpectralMI(bandwidth=HUGE, **MI)
    aimed_here(lambda: mi.fit(X, Y))
    aimed_here(lambda: mi.score(X, Y))


def test_scorers_warn_at_the_callers_line():
    pca = PCA(2).fit(X)
    aimed_here(lambda: make_dse_scorer(bandwidth=HUGE)(pca, X))
    aimed_here(lambda: make_dsmi_scorer(bandwidth=HUGE, n_repeats=2, random_state=0)(pca, X, Y))


def test_called_by_scikit_learn_the_warning_is_aimed_outside_skdse():
    pipe = make_pipeline(PCA(2), DiffusionSpectralEntropy(bandwidth=HUGE))
    aimed_outside_skdse(lambda: pipe.fit(X))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        cross_val_score(pipe, X, cv=2)
        cross_val_score(PCA(2), X, Y, cv=2, scoring=make_dsmi_scorer(bandwidth=HUGE, **MI))
    hits = [w for w in record if w.category is UserWarning and "too large" in str(w.message)]
    # each split: the pipeline's fit and score, and the scorer's call
    assert len(hits) == 2 * 2 + 2, [str(w.message) for w in record]
    inside = [w.filename for w in hits if os.path.abspath(w.filename).startswith(SKDSE_DIR)]
    assert not inside


def test_dask_input_warns_at_the_callers_line():
    da = pytest.importorskip("dask.array")
    Xd = da.from_array(X, chunks=(20, 3))  # Dask's local scheduler: no cluster needed
    aimed_here(lambda: diffusion_spectral_entropy(Xd, bandwidth=HUGE))
    aimed_here(lambda: DiffusionSpectralMI(bandwidth=HUGE, **MI).fit(Xd, Y))


def test_results_carry_the_diagnostics_and_the_engine_does_not_warn():
    Xc = check_X(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        wide = compute_dse(Xc, entropy_params(bandwidth=HUGE), random_state=0)
        narrow = compute_dse(Xc, entropy_params(bandwidth=TINY), random_state=0)
        mi = compute_dsmi(Xc, Y, entropy_params(bandwidth=HUGE, n_repeats=2), random_state=0)
    assert wide.diagnostics.mean_affinity > 0.99 and wide.diagnostics.problem() == "wide"
    assert wide.diagnostics.n_samples == 60
    assert narrow.diagnostics.mean_mass < 0.01 and narrow.diagnostics.problem() == "narrow"
    assert mi.diagnostics.mean_affinity > 0.99 and mi.diagnostics.problem() == "wide"
    sensible = compute_dse(Xc, entropy_params(), random_state=0).diagnostics
    assert sensible.problem() is None and 0.01 < sensible.mean_affinity < 0.99


def test_no_warning_for_a_sensible_or_adaptive_kernel():
    pca = PCA(2).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        diffusion_spectral_entropy(X, bandwidth="scale")
        diffusion_spectral_mutual_information(X, Y, bandwidth="scale", **MI)
        DiffusionSpectralEntropy(bandwidth="scale").fit(X).score(X)
        DiffusionSpectralMI(bandwidth="scale", **MI).fit(X, Y).score(X, Y)
        make_dse_scorer()(pca, X)
        make_dsmi_scorer(n_repeats=2, random_state=0)(pca, X, Y)
        # the kNN affinity has no single width to blame
        diffusion_spectral_entropy(X, affinity="knn", n_neighbors=5)


def test_degenerate_kernel_warns_once_and_names_bandwidth():
    X = np.random.default_rng(0).uniform(size=(100, 3))
    with pytest.warns(UserWarning, match="bandwidth=1000 is too large") as rec:
        diffusion_spectral_entropy(X, bandwidth=1000.0)
    assert len(rec) == 1
    with pytest.warns(UserWarning, match="bandwidth=0.001 is too small"):
        diffusion_spectral_entropy(X, bandwidth=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        diffusion_spectral_entropy(X)  # "scale" is sensible here
        diffusion_spectral_entropy(np.ones((10, 2)))  # one distinct point: not a bandwidth issue


def test_dsmi_warns_once_for_degenerate_kernel():
    from skdse import diffusion_spectral_mutual_information

    X = np.random.default_rng(0).uniform(size=(60, 3))
    y = np.repeat([0, 1, 2], 20)
    with pytest.warns(UserWarning, match="too large") as rec:
        diffusion_spectral_mutual_information(X, y, bandwidth=1e3, random_state=0)
    assert len(rec) == 1


@pytest.mark.parametrize("compute", [dsmi_fn, dsmi_est])
@pytest.mark.parametrize(
    "y, match",
    [
        (np.zeros(19, dtype=int), "inconsistent numbers of samples"),
        (np.r_[np.zeros(19), np.nan], "NaN"),
        (np.array([None] + ["a"] * 19, dtype=object), "missing labels"),
        (np.array([1 + 2j] * 20), "Unknown label type|[Cc]omplex"),
        (None, "requires y|y is required"),
    ],
)
def test_bad_y(compute, y, match):
    with pytest.raises(ValueError, match=match):
        compute(X_OK, y=y)
