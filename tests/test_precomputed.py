"""``affinity="precomputed"``: the user's own N x N affinity as X (issue 15, item 2)."""

import json

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st
from scipy.spatial.distance import cdist
from sklearn.base import clone
from sklearn.neighbors import kneighbors_graph
from sklearn.preprocessing import FunctionTransformer

from skdse import (
    DiffusionSpectralEntropy,
    DiffusionSpectralMI,
    diffusion_spectral_entropy,
    diffusion_spectral_mutual_information,
)
from skdse.cli import main as cli_main
from skdse.scoring import make_dse_scorer

from ._tolerances import EXACT_TOL, SLQ_TOL

RNG = np.random.default_rng(0)
Y = np.repeat([0, 1, 2], 40)
X = RNG.normal(size=(120, 4)) + 2.0 * Y[:, None]
SIGMA = 1.7
#: small slq settings: 1 + 8 + 8 = 17 vectors, so every term above 17 points runs slq
SLQ = dict(n_deflate=8, n_probes=8, n_lanczos_steps=20)
TOL = {"exact": EXACT_TOL, "slq": SLQ_TOL}


def gaussian_by_hand(Z, sigma):
    """exp(-d^2 / (2 sigma^2)), computed here, not by skdse."""
    return np.exp(-cdist(Z, Z, "sqeuclidean") / (2 * sigma**2))


G = gaussian_by_hand(X, SIGMA)


def dse_by_hand(W, t=1.0):
    """DSE (bits) of the affinity W from numpy's eigenvalues of D^-1/2 W D^-1/2."""
    W = W.toarray() if sp.issparse(W) else np.asarray(W)
    s = 1.0 / np.sqrt(W.sum(axis=1))
    lam = np.abs(np.linalg.eigvalsh(W * s[:, None] * s[None, :])) ** t
    p = lam[lam > 0] / lam.sum()
    return float(-(p * np.log2(p)).sum())


def precomputed_dse(W, **kw):
    return diffusion_spectral_entropy(W, affinity="precomputed", **kw)


# --- the same numbers as affinity="gaussian" with that bandwidth ---------------------------


@pytest.mark.parametrize("solver", ["exact", "slq"])
def test_gaussian_by_hand_equals_gaussian_affinity(solver):
    kw = dict(solver=solver, random_state=0, **SLQ)
    for extra in ({}, {"t": 3.0}, {"max_samples": 50}, {"max_samples": 50, "n_subsamples": 3}):
        want = diffusion_spectral_entropy(X, bandwidth=SIGMA, **kw, **extra)
        got = precomputed_dse(G, **kw, **extra)
        assert abs(got - want) <= TOL[solver], extra
    # DSMI: classes and matched subsets take rows and columns (the sub-affinity)
    for max_samples in (None, 30):
        want = diffusion_spectral_mutual_information(
            X, Y, bandwidth=SIGMA, max_samples=max_samples, **kw
        )
        got = diffusion_spectral_mutual_information(
            G, Y, affinity="precomputed", max_samples=max_samples, **kw
        )
        assert abs(got - want) <= TOL[solver], max_samples


def test_exact_matches_the_eigenvalues_by_hand_with_a_zero_diagonal():
    W = G - np.diag(np.diag(G))  # a zero diagonal is allowed
    for t in (1.0, 2.0):
        assert abs(precomputed_dse(W, t=t, solver="exact") - dse_by_hand(W, t)) <= EXACT_TOL


# --- kNN graphs, sparse or dense -----------------------------------------------------------


def test_knn_graph_from_sklearn_accepted_once_symmetric():
    K = kneighbors_graph(X, 10)  # directed, zero diagonal, scipy.sparse
    with pytest.raises(ValueError, match=r"not symmetric.*kneighbors_graph"):
        precomputed_dse(K)
    S = K.maximum(K.T)
    exact = precomputed_dse(S, solver="exact")
    assert abs(exact - dse_by_hand(S)) <= EXACT_TOL
    assert abs(precomputed_dse(S.toarray(), solver="exact") - exact) <= EXACT_TOL
    # slq multiplies with the sparse graph as given: the dense copy gives the same products
    slq = precomputed_dse(S, solver="slq", random_state=0, **SLQ)
    assert abs(precomputed_dse(S.toarray(), solver="slq", random_state=0, **SLQ) - slq) <= SLQ_TOL
    assert abs(slq - exact) < 0.1
    # with self-loops every class sub-graph keeps positive rows: DSMI runs, and sees
    # more of the classes than of the same labels shuffled (measured 0.12 against 0.007)
    loops = S + sp.identity(S.shape[0])
    mi = diffusion_spectral_mutual_information(loops, Y, affinity="precomputed", random_state=0)
    shuffled = np.random.default_rng(1).permutation(Y)
    mi_shuffled = diffusion_spectral_mutual_information(
        loops, shuffled, affinity="precomputed", random_state=0
    )
    assert mi > mi_shuffled + 0.05


# --- bad input: a clear error naming X -----------------------------------------------------


def _with(W, i, j, value):
    W = np.array(W, dtype=float)
    W[i, j] = W[j, i] = value
    return W


BAD = {
    "not square": (np.ones((4, 5)), "square"),
    "1-D": (np.ones(4), "square"),
    "negative": (_with(G, 0, 1, -0.1), "negative entries"),
    "asymmetric": (G + np.triu(np.full(G.shape, 1e-3), 1), "not symmetric"),
    "NaN": (_with(G, 0, 1, np.nan), "NaN"),
    "inf": (_with(G, 2, 3, np.inf), "infinity"),
    "zero row": (_with(_with(G, 5, slice(None), 0.0), 5, 5, 0.0), r"row 5\b.*sums to 0"),
    "sparse not square": (sp.csr_matrix(np.ones((4, 5))), "square"),
    "sparse negative": (sp.csr_matrix(_with(G, 0, 1, -0.1)), "negative entries"),
    "sparse asymmetric": (sp.csr_matrix(np.triu(G)), "not symmetric"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_affinity_raises_a_clear_error(name):
    W, match = BAD[name]
    with pytest.raises(ValueError, match=match) as info:
        precomputed_dse(W, solver="exact")
    assert "X" in str(info.value)
    with pytest.raises(ValueError, match=match):
        DiffusionSpectralEntropy(affinity="precomputed").fit(W)


def test_symmetry_tolerance_follows_the_dtype():
    """Rounding-sized asymmetry passes; float32 is allowed float32's rounding, float64 not."""
    noise = np.triu(np.random.default_rng(1).uniform(size=G.shape), 1)
    tiny = G + 1e-12 * noise  # float64 rounding of a symmetric computation: accepted
    assert abs(precomputed_dse(tiny, solver="exact") - precomputed_dse(G, solver="exact")) < 1e-9
    rounded32 = (G + 1e-5 * noise).astype(np.float32)  # beyond float64's sqrt(eps) only
    assert np.isfinite(precomputed_dse(rounded32, solver="exact"))
    with pytest.raises(ValueError, match="not symmetric"):
        precomputed_dse(rounded32.astype(np.float64), solver="exact")


def test_isolated_point_in_a_class_sub_affinity_is_named():
    """A whole G with positive rows, whose class sub-matrix has a zero row: ValueError."""
    W = (Y[:, None] != Y[None, :]).astype(float)  # links across classes only, zero diagonal
    assert np.isfinite(precomputed_dse(W, solver="exact"))
    with pytest.raises(ValueError, match="sums to 0.*sub-affinity"):
        diffusion_spectral_mutual_information(W, Y, affinity="precomputed", random_state=0)


# --- where G lives: dask, array API --------------------------------------------------------


@pytest.mark.parametrize("solver", ["exact", "slq"])
def test_dask_array_matches_numpy(solver):
    da = pytest.importorskip("dask.array")
    import dask

    Gd = da.from_array(G, chunks=(32, G.shape[1]))
    kw = dict(
        affinity="precomputed", solver=solver, random_state=0, **{**SLQ, "n_lanczos_steps": 8}
    )
    with dask.config.set(scheduler="synchronous"):
        for extra in ({}, {"max_samples": 50, "n_subsamples": 2}):
            got = diffusion_spectral_entropy(Gd, **kw, **extra)
            assert abs(got - diffusion_spectral_entropy(G, **kw, **extra)) <= TOL[solver]
        got = diffusion_spectral_mutual_information(Gd, Y, max_samples=30, **kw)
        want = diffusion_spectral_mutual_information(G, Y, max_samples=30, **kw)
        assert abs(got - want) <= TOL[solver]
        est = DiffusionSpectralEntropy(**kw).fit(Gd)
        want = diffusion_spectral_entropy(G, **kw)
        assert est.bandwidth_ is None and abs(est.entropy_ - want) <= TOL[solver]
        with pytest.raises(ValueError, match="negative entries"):
            diffusion_spectral_entropy(da.from_array(G - 0.5, chunks=(32, 120)), **kw)
        with pytest.raises(ValueError, match="not symmetric"):
            diffusion_spectral_entropy(da.from_array(np.triu(G), chunks=(32, 120)), **kw)
        with pytest.raises(ValueError, match="square"):
            diffusion_spectral_entropy(da.from_array(G[:, :100], chunks=(32, 100)), **kw)


@pytest.mark.parametrize("library", ["torch", "array_api_strict"])
def test_array_api_input_computed_where_it_lives(library):
    mod = pytest.importorskip(library)
    W = mod.asarray(G)
    for solver in ("exact", "slq"):
        kw = dict(solver=solver, random_state=0, **SLQ)
        assert abs(precomputed_dse(W, **kw) - precomputed_dse(G, **kw)) <= TOL[solver]
    with pytest.raises(ValueError, match="negative entries"):
        precomputed_dse(mod.asarray(_with(G, 0, 1, -0.1)))


# --- estimators, scorers -------------------------------------------------------------------


def test_estimators_fit_and_score_precomputed_affinities():
    est = DiffusionSpectralEntropy(affinity="precomputed", random_state=0).fit(G)
    assert est.affinity_ == "precomputed" and est.bandwidth_ is None
    assert est.n_features_in_ == G.shape[0]
    assert est.__sklearn_tags__().input_tags.pairwise
    ref = DiffusionSpectralEntropy(bandwidth=SIGMA, random_state=0).fit(X)
    assert abs(est.entropy_ - ref.entropy_) <= EXACT_TOL
    # score: the affinity of other points (square, any size)
    Z = X[:50] + 0.3
    assert abs(est.score(gaussian_by_hand(Z, SIGMA)) - ref.score(Z)) <= EXACT_TOL
    with pytest.raises(ValueError, match="square"):
        est.score(G[:50, :])  # the test rows against the training columns
    mi = DiffusionSpectralMI(affinity="precomputed", random_state=0).fit(G, Y)
    ref_mi = DiffusionSpectralMI(bandwidth=SIGMA, random_state=0).fit(X, Y)
    assert abs(mi.mutual_information_ - ref_mi.mutual_information_) <= EXACT_TOL
    assert mi.bandwidth_ is None
    got = mi.score(gaussian_by_hand(Z, SIGMA), Y[:50])
    assert abs(got - ref_mi.score(Z, Y[:50])) <= EXACT_TOL
    assert clone(est).get_params()["affinity"] == "precomputed"


def test_scorer_takes_the_transformers_affinity():
    to_affinity = FunctionTransformer(lambda Z: gaussian_by_hand(Z, SIGMA)).fit(X)
    scorer = make_dse_scorer(affinity="precomputed")
    assert abs(scorer(to_affinity, X) - precomputed_dse(G)) <= EXACT_TOL


# --- a property: the measure does not depend on the order of the points --------------------


@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(3, 25),
    zero_diagonal=st.booleans(),
    t=st.floats(0.5, 5.0),
)
def test_permuting_rows_and_columns_together_leaves_dse_unchanged(seed, n, zero_diagonal, t):
    rng = np.random.default_rng(seed)
    W = gaussian_by_hand(rng.normal(size=(n, 2)), 1.0)
    if zero_diagonal:
        np.fill_diagonal(W, 0.0)
    perm = rng.permutation(n)
    h = precomputed_dse(W, t=t, solver="exact")
    assert abs(precomputed_dse(W[np.ix_(perm, perm)], t=t, solver="exact") - h) <= EXACT_TOL


# --- the command line ----------------------------------------------------------------------


def test_cli_reads_a_saved_affinity(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    np.save("G.npy", G)
    S = kneighbors_graph(X, 10)
    S = S.maximum(S.T)
    sp.save_npz("S.npz", sp.csr_matrix(S))
    argv = ["entropy", "G.npy", "S.npz", "--affinity", "precomputed", "--solver", "exact"]
    assert cli_main([*argv, "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert abs(rows[0]["DSE"] - precomputed_dse(G, solver="exact")) <= EXACT_TOL
    assert abs(rows[1]["DSE"] - precomputed_dse(S, solver="exact")) <= EXACT_TOL
    assert rows[0]["affinity"] == "precomputed" and rows[0]["bandwidth"] is None
    np.save("bad.npy", X)  # the data itself, not an affinity
    assert cli_main(["entropy", "bad.npy", "--affinity", "precomputed"]) == 2
    assert "square" in capsys.readouterr().err
