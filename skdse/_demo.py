"""A short demonstration on scikit-learn's bundled digits data."""

from __future__ import annotations

import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from ._entropy import diffusion_spectral_entropy
from ._estimators import DiffusionSpectralEntropy, DiffusionSpectralMI
from ._mi import diffusion_spectral_mutual_information


def main() -> None:
    """Print DSE and DSMI of the digits and of PCA embeddings of them.

    Examples
    --------
    >>> from skdse._demo import main
    >>> main()  # doctest: +SKIP
    """
    start = time.perf_counter()
    X, y = load_digits(return_X_y=True)
    shuffled = np.random.default_rng(0).permutation(y)
    print(f"digits: {X.shape[0]} images x {X.shape[1]} pixels, 10 classes\n")

    est = DiffusionSpectralEntropy(t=1).fit(X)
    print(f"bandwidth ('scale')          sigma = {est.bandwidth_:.3f}")
    profile = est.entropy_profile([1, 2, 5, 10])
    print("DSE(X) over t = 1, 2, 5, 10: " + ", ".join(f"{h:.3f}" for h in profile) + " bits")
    print(f"upper bound log2(N)         {np.log2(X.shape[0]):.3f} bits\n")

    print(f"{'representation':<22}{'DSE':>8}{'DSMI(Z;Y)':>12}{'DSMI(Z;shuffled)':>18}")
    for k in (2, 8, 32, 64):
        Z = X if k == 64 else PCA(k, random_state=0).fit_transform(X)
        name = "pixels" if k == 64 else f"PCA({k})"
        h = diffusion_spectral_entropy(Z)
        mi = diffusion_spectral_mutual_information(Z, y, random_state=0)
        mi0 = diffusion_spectral_mutual_information(Z, shuffled, random_state=0)
        print(f"{name:<22}{h:>8.3f}{mi:>12.3f}{mi0:>18.3f}")

    grid = GridSearchCV(
        make_pipeline(PCA(random_state=0), DiffusionSpectralMI(random_state=0)),
        {"pca__n_components": [2, 8, 32]},
        cv=3,
    ).fit(X, y)
    print(
        f"\nGridSearchCV picks pca__n_components={grid.best_params_['pca__n_components']} "
        f"by held-out DSMI ({grid.best_score_:.3f} bits)"
    )
    print(f"done in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
