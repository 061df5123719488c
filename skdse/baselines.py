"""The paper's baselines, to reproduce its comparisons with DSE and DSMI.

Diffusion spectral entropy (DSE) is compared in the paper with measures that
either saturate or ignore the data's geometry. They are kept here, apart from
the DSE/DSMI API at ``skdse``, with the same inputs, subsampling and
``random_state`` conventions:

- :func:`classic_shannon_entropy`: Shannon entropy of the counts of distinct
  rows after binning each dimension into ``n_bins_per_dim`` bins; it
  saturates at ``log N`` once the dimension is high;
- :func:`diffusion_matrix_entry_entropy`: entropy of the diffusion matrix's
  entries instead of its eigenvalues;
- :func:`adjacency_spectral_entropy`: entropy of the eigenvalues of an
  adjacency matrix (the Gaussian affinity, its symmetric normalisation, or a
  binarised kNN graph) instead of the diffusion operator;
- :func:`classic_mutual_information`, :func:`matrix_entry_mutual_information`
  and :func:`adjacency_spectral_mutual_information`: the mutual information
  built from each, with the same partition of the reference and the same
  matched-subset estimator as DSMI;
- :class:`BaselineEntropy` and :class:`BaselineMI`: scikit-learn estimators
  over all of them (``measure="classic" | "matrix_entry" | "adjacency"``);
- :func:`effective_rank` (RankMe) and :func:`vendi_score` (of the Gaussian
  kernel, any Rényi order), with their estimators :class:`EffectiveRank`
  and :class:`VendiScore`: the measures users compare with.

They run on the host (NumPy); :func:`effective_rank` and :func:`vendi_score`
compute where X lives.

Examples
--------
>>> import numpy as np
>>> from skdse import diffusion_spectral_entropy
>>> from skdse.baselines import classic_shannon_entropy
>>> X = np.random.default_rng(0).normal(size=(200, 50))
>>> round(classic_shannon_entropy(X), 3)  # saturated: log2(200) = 7.644
7.644
>>> bool(diffusion_spectral_entropy(X) < classic_shannon_entropy(X))
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
from ._rank_measures import EffectiveRank, VendiScore, effective_rank, vendi_score

__all__ = [
    "BaselineEntropy",
    "BaselineMI",
    "EffectiveRank",
    "VendiScore",
    "adjacency_spectral_entropy",
    "adjacency_spectral_mutual_information",
    "classic_mutual_information",
    "classic_shannon_entropy",
    "diffusion_matrix_entry_entropy",
    "effective_rank",
    "matrix_entry_mutual_information",
    "vendi_score",
]
