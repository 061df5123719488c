"""The knee of a curve (the L-method) and the diffusion time at the knee of an entropy profile.

``t="auto"`` picks the diffusion time as PHATE does (Moon et al. 2019): the
knee of the entropy of the powered spectrum as a function of t, found by a
two-line fit, the L-method of Salvador and Chan (2004) in the form of
PHATE's ``find_knee_point``: for each candidate breakpoint c, one
least-squares line through the points up to c and one through the points
from c on (both hold c), and the knee is the c whose two lines have the
smallest total absolute residual. (Salvador and Chan split the points into
two disjoint runs and weigh the two lines' RMS errors by their lengths.)

PHATE's code fits its right line through one point more than it scores
(c - 1 onwards, scored from c on); on smooth decreasing profiles that puts
its knee one grid step later than here. Checked against ``phate`` 2.0's
``find_knee_point``: the same knee on 300 random curves once its right line
is fitted that way; 221 of 300 as written here.

References
----------
K. R. Moon, D. van Dijk, Z. Wang et al., "Visualizing structure and
transitions in high-dimensional biological data", Nature Biotechnology 37,
1482-1492, 2019 (Methods: "the knee point of the von Neumann entropy").

S. Salvador and P. Chan, "Determining the number of clusters/segments in
hierarchical clustering/segmentation algorithms", Proc. 16th IEEE
International Conference on Tools with Artificial Intelligence (ICTAI),
pp. 576-584, 2004.
"""

from __future__ import annotations

import numpy as np

#: The diffusion times ``t="auto"`` evaluates the entropy profile at: the
#: integers 1 to 100 (PHATE's ``t_max=100`` powers of the operator). The
#: chosen t is one of them.
KNEE_TIMES = np.arange(1.0, 101.0)

#: A profile whose range is at most this fraction of its largest magnitude
#: is flat (rounding only): it has no knee, and ``t="auto"`` gives the first
#: time, t = 1.
FLAT_RTOL = 1e-9


def _abs_residual(x: np.ndarray, y: np.ndarray) -> float:
    """Sum of the absolute residuals of the least-squares line through (x, y)."""
    xc = x - x.mean()
    yc = y - y.mean()
    slope = np.dot(xc, yc) / np.dot(xc, xc)
    return float(np.sum(np.abs(yc - slope * xc)))


def knee_index(x, y, *, rtol: float = FLAT_RTOL) -> int:
    """Index of the knee of the curve ``y = f(x)``, by the two-line L-method.

    For each breakpoint ``c`` strictly inside the curve, one least-squares
    line is fitted to the points ``0..c`` and one to ``c..n-1`` (both hold
    point c); the knee is the ``c`` with the smallest sum of absolute
    residuals of the two lines (PHATE's form of Salvador and Chan's
    L-method; see the module's notes for how PHATE's code differs). Ties go
    to the smallest x. The lines are fitted on centred data (no cancellation
    in ``n sum x^2 - (sum x)^2``).

    The knee does not change when y is scaled or shifted (``a y + b``, any
    ``a != 0``), and moves with x when x is scaled or shifted. A flat curve
    (range at most ``rtol`` times its largest magnitude, rounding only) has
    no knee: index 0 is returned.

    Parameters
    ----------
    x : array-like of shape (n,)
        Strictly increasing abscissae, n >= 3.
    y : array-like of shape (n,)
        Finite values.
    rtol : float, default=1e-9
        Relative range below which the curve is flat.

    Returns
    -------
    int
        In ``1..n-2`` (an inner point), or 0 for a flat curve.

    Examples
    --------
    >>> import numpy as np
    >>> from skdse._engine.knee import knee_index
    >>> x = np.arange(1.0, 21.0)
    >>> y = np.maximum(10 - 2 * x, 0)  # falls until x = 5, then flat
    >>> int(x[knee_index(x, y)])
    5
    >>> knee_index(x, np.full(20, 3.0))  # flat: no knee
    0
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape or x.shape[0] < 3:
        raise ValueError(
            f"a knee needs x and y of one shape (n,) with n >= 3, got {x.shape} and {y.shape}."
        )
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("a knee needs finite x and y.")
    if not np.all(np.diff(x) > 0):
        raise ValueError("a knee needs strictly increasing x.")
    if np.ptp(y) <= rtol * np.max(np.abs(y)):
        return 0
    n = x.shape[0]
    errors = [
        _abs_residual(x[: c + 1], y[: c + 1]) + _abs_residual(x[c:], y[c:]) for c in range(1, n - 1)
    ]
    return 1 + int(np.argmin(errors))


def knee_time(spectrum, base: float, order: float = 1.0) -> float:
    """The diffusion time at the knee of ``spectrum``'s entropy profile (``t="auto"``).

    The profile is ``spectrum.entropy(t, base, order)`` at the times
    :data:`KNEE_TIMES` (1 to 100), computed from the one spectrum (exact
    eigenvalues or slq's quadrature rule, whose probes are fixed, so the
    same seed gives the same t); :func:`knee_index` finds its knee. A flat
    profile (one eigenvalue, or all equal) gives t = 1. The base does not
    move the knee (it scales the profile).

    Examples
    --------
    >>> import numpy as np
    >>> from skdse._engine.knee import knee_time
    >>> from skdse._engine.spectrum import ExactSpectrum
    >>> knee_time(ExactSpectrum(np.array([1.0, 0.9, 0.5, 0.1])), 2.0)
    35.0
    >>> knee_time(ExactSpectrum(np.array([1.0, 1.0])), 2.0)  # flat profile
    1.0
    """
    profile = np.asarray(spectrum.entropy(KNEE_TIMES, base, order), dtype=np.float64)
    return float(KNEE_TIMES[knee_index(KNEE_TIMES, profile)])
