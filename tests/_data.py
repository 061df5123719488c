"""Data, entry points and small helpers that several test files share.

Each group says which files use it; a helper used by one file stays in that file.
"""

import warnings

import numpy as np
from sklearn.datasets import make_blobs
from sklearn.decomposition import PCA

import skdse
from skdse import (
    DiffusionSpectralEntropy,
    DiffusionSpectralMI,
    diffusion_spectral_entropy,
    diffusion_spectral_mutual_information,
)
from skdse.datasets import make_branching_tree, make_noisy_subspace
from skdse.scoring import make_dse_scorer, make_dsmi_scorer

#: Every public callable that takes the entropy parameters (EntropyParams).
ENTROPY_ENTRY_POINTS = (
    skdse.diffusion_spectral_entropy,
    skdse.diffusion_spectral_mutual_information,
    skdse.DiffusionSpectralEntropy.__init__,
    skdse.DiffusionSpectralMI.__init__,
    make_dse_scorer,
    make_dsmi_scorer,
)


def uniform_cube(n, d=64, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, d))


def blobs(n, d=16, seed=0):
    X, _ = make_blobs(n_samples=n, n_features=d, centers=4, cluster_std=2.0, random_state=seed)
    return X


def manifold(n, d=128, seed=0):
    # Scaled so that sigma = 10 sees structure (distances of order 10).
    return 10.0 * make_noisy_subspace(n, 3, d, noise=0.05, random_state=seed)


def duplicated(n, d=8, seed=0):
    base = np.random.default_rng(seed).normal(scale=5.0, size=(n // 2, d))
    return np.concatenate([base, base, base[: n - 2 * (n // 2)]])


def far_clusters(n, d=10, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(scale=4.0, size=(n, d))
    X[n // 2 :] += 1000.0
    return X


def tree(n, d=20, seed=0):
    X, _ = make_branching_tree(5, n // 5, d, step=2.0, random_state=seed)
    return X


DATASETS = {
    "uniform_cube": uniform_cube,
    "blobs": blobs,
    "manifold": manifold,
    "duplicated": duplicated,
    "far_clusters": far_clusters,
    "tree": tree,
}


# ---- X and three kinds of y (class labels, a regression target, a vector per sample), and
# an identity transformer: test_partition.py, test_scoring.py ----------------------------------

RNG = np.random.default_rng(0)

Y_INT = np.repeat(np.arange(3), 30)

X = RNG.normal(size=(90, 4)) + 2.0 * Y_INT[:, None]

Y_FLOAT = X[:, 0] + RNG.normal(scale=0.5, size=90)  # a regression target

Y_VECTOR = X[:, :2] + RNG.normal(scale=0.1, size=(90, 2))  # a reference per sample

# Same process, same arithmetic on the same host labels: only rounding of
# identical operations, so a tight tolerance.
TOL = 1e-12

KW = dict(bandwidth=3.0, n_repeats=2, random_state=0)


class _Identity(PCA):
    """A transformer whose embedding is X itself, so scorer == function on X."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.asarray(X, dtype=float)


# ---- DSE with degenerate kernels allowed: test_kernels.py, test_knn.py -----------------------


def dse(X, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # degenerate kernels are the point here
        return diffusion_spectral_entropy(X, **kw)


# ---- the ``X`` fixture's slq settings (tests/conftest.py): test_mi.py, test_slq.py ----------

# slq on 150 points with few vectors, so slq (not its exact fallback) runs
SLQ = dict(solver="slq", n_deflate=4, n_probes=8)


# ---- the four entry points and valid data of the bad-input tests: test_inputs.py,
# test_params.py, test_validation.py, test_estimators.py, test_resources.py ----------------------

X_OK = np.random.default_rng(0).normal(size=(20, 3))

Y_OK = np.repeat([0, 1], 10)


def dse_fn(X, **kw):
    return diffusion_spectral_entropy(X, **kw)


def dse_est(X, **kw):
    return DiffusionSpectralEntropy(**kw).fit(X)


def dsmi_fn(X, y=Y_OK, **kw):
    return diffusion_spectral_mutual_information(X, y, **kw)


def dsmi_est(X, y=Y_OK, **kw):
    return DiffusionSpectralMI(**kw).fit(X, y)


ALL = [dse_fn, dse_est, dsmi_fn, dsmi_est]
