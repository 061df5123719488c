"""scikit-learn's common estimator checks, run over every estimator skdse ships."""

import warnings

from sklearn.utils.estimator_checks import parametrize_with_checks

from skdse import DiffusionSpectralEntropy, DiffusionSpectralMI
from skdse.baselines import BaselineEntropy, BaselineMI, EffectiveRank, VendiScore

ESTIMATORS = [
    DiffusionSpectralEntropy(),
    DiffusionSpectralMI(random_state=0),
    BaselineEntropy(),
    BaselineEntropy("adjacency"),
    BaselineMI(random_state=0),
    EffectiveRank(),
    VendiScore(),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    with warnings.catch_warnings():
        # The common checks feed tiny and degenerate data sets on purpose.
        warnings.simplefilter("ignore", UserWarning)
        check(estimator)
