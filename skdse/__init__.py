"""skdse: diffusion spectral entropy and mutual information for scikit-learn.

The DSE/DSMI API lives here; the paper's baselines are in
:mod:`skdse.baselines` and the scorers in :mod:`skdse.scoring`.

Examples
--------
>>> import numpy as np
>>> import skdse
>>> X = np.random.default_rng(0).normal(size=(100, 4))
>>> bool(0 < skdse.diffusion_spectral_entropy(X) < np.log2(100))
True
"""

from . import baselines
from ._engine.resources import InsufficientMemoryError
from ._entropy import diffusion_spectral_entropy
from ._estimators import DiffusionSpectralEntropy, DiffusionSpectralMI
from ._mi import diffusion_spectral_mutual_information
from ._partition import partition_reference

__version__ = "0.1.0"

__all__ = [
    "DiffusionSpectralEntropy",
    "DiffusionSpectralMI",
    "InsufficientMemoryError",
    "diffusion_spectral_entropy",
    "diffusion_spectral_mutual_information",
    "partition_reference",
]


def __getattr__(name: str):
    """The baselines' old top-level names, with a FutureWarning (PEP 562)."""
    if name in baselines.__all__:
        import sys
        import warnings

        # ``from skdse import name`` asks twice: importlib's hasattr, then the
        # importing line; warn only for the second, which names the caller's line.
        if sys._getframe(1).f_globals.get("__name__") != "importlib._bootstrap":
            warnings.warn(
                f"skdse.{name} moved to skdse.baselines.{name}; the top-level name will "
                f"be removed in the next release. Use `from skdse.baselines import {name}`.",
                FutureWarning,
                stacklevel=2,
            )
        return getattr(baselines, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
