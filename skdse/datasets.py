"""Synthetic data sets of the kind the DSE/DSMI paper experiments with."""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["make_branching_tree", "make_noisy_subspace"]


def make_branching_tree(
    n_branches: int = 5,
    n_per_branch: int = 100,
    n_features: int = 20,
    *,
    step: float = 1.0,
    noise: float = 0.5,
    random_state=None,
):
    """Points along a random-walk tree (the PHATE-style tree of the paper).

    The first branch is a Gaussian random walk from the origin; each later
    branch starts at a random point of an earlier branch and walks on.
    Gaussian noise is added to every point.

    Parameters
    ----------
    n_branches : int, default=5
        Number of branches (and labels).
    n_per_branch : int, default=100
        Points per branch.
    n_features : int, default=20
        Ambient dimension.
    step : float, default=1.0
        Standard deviation of each random-walk step.
    noise : float, default=0.5
        Standard deviation of the noise added to the points.
    random_state : int, RandomState instance or None, default=None
        Seed.

    Returns
    -------
    X : ndarray of shape (n_branches * n_per_branch, n_features)
    y : ndarray of shape (n_branches * n_per_branch,)
        Branch index of each point.

    Examples
    --------
    >>> from skdse.datasets import make_branching_tree
    >>> X, y = make_branching_tree(3, 50, 10, random_state=0)
    >>> X.shape, sorted(set(y.tolist()))
    ((150, 10), [0, 1, 2])
    """
    if n_branches < 1 or n_per_branch < 1 or n_features < 1:
        raise ValueError("n_branches, n_per_branch and n_features must be >= 1.")
    rng = check_random_state(random_state)
    branches = []
    for b in range(n_branches):
        if b == 0:
            start = np.zeros(n_features)
        else:
            parent = branches[rng.randint(b)]
            start = parent[rng.randint(n_per_branch)]
        walk = np.cumsum(rng.normal(scale=step, size=(n_per_branch, n_features)), axis=0)
        branches.append(start + walk)
    X = np.concatenate(branches) + rng.normal(
        scale=noise, size=(n_branches * n_per_branch, n_features)
    )
    y = np.repeat(np.arange(n_branches), n_per_branch)
    return X, y


def make_noisy_subspace(
    n_samples: int = 500,
    intrinsic_dim: int = 2,
    n_features: int = 2048,
    *,
    noise: float = 0.01,
    random_state=None,
):
    """Uniform points in a random ``intrinsic_dim``-dimensional subspace, plus noise.

    The points are uniform in the unit cube of a random ``intrinsic_dim``-
    dimensional subspace (orthonormal basis) of the ambient space; uniform
    noise in ``[-noise, noise]`` is added to every coordinate.

    Parameters
    ----------
    n_samples : int, default=500
    intrinsic_dim : int, default=2
    n_features : int, default=2048
    noise : float, default=0.01
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)

    Examples
    --------
    >>> from skdse.datasets import make_noisy_subspace
    >>> make_noisy_subspace(100, 3, 64, random_state=0).shape
    (100, 64)
    """
    if not 1 <= intrinsic_dim <= n_features:
        raise ValueError(
            f"intrinsic_dim must be between 1 and n_features={n_features}, got {intrinsic_dim}."
        )
    rng = check_random_state(random_state)
    basis, _ = np.linalg.qr(rng.normal(size=(n_features, intrinsic_dim)))
    Z = rng.uniform(size=(n_samples, intrinsic_dim))
    return Z @ basis.T + rng.uniform(-noise, noise, size=(n_samples, n_features))
