"""skdse: diffusion spectral entropy and mutual information for scikit-learn.

Examples
--------
>>> import numpy as np
>>> import skdse
>>> X = np.random.default_rng(0).normal(size=(100, 4))
>>> bool(0 < skdse.diffusion_spectral_entropy(X) < np.log2(100))
True
"""

from ._baseline_estimators import BaselineEntropy, BaselineMI
from ._baselines import (
    adjacency_spectral_entropy,
    adjacency_spectral_mutual_information,
    classic_mutual_information,
    classic_shannon_entropy,
    diffusion_matrix_entry_entropy,
    matrix_entry_mutual_information,
)
from ._entropy import diffusion_spectral_entropy
from ._estimators import DiffusionSpectralEntropy, DiffusionSpectralMI
from ._mi import diffusion_spectral_mutual_information
from ._partition import partition_reference
from ._validation import InsufficientMemoryError

__version__ = "0.1.0"

__all__ = [
    "BaselineEntropy",
    "BaselineMI",
    "DiffusionSpectralEntropy",
    "DiffusionSpectralMI",
    "InsufficientMemoryError",
    "adjacency_spectral_entropy",
    "adjacency_spectral_mutual_information",
    "classic_mutual_information",
    "classic_shannon_entropy",
    "diffusion_matrix_entry_entropy",
    "diffusion_spectral_entropy",
    "diffusion_spectral_mutual_information",
    "matrix_entry_mutual_information",
    "partition_reference",
]
