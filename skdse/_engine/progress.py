"""Progress bars for long computations, shown only when asked for.

The library is silent by default (``verbose=0``); with ``verbose > 0`` it
draws a tqdm bar on standard error when tqdm is installed, and stays silent
when it is not.
"""

from __future__ import annotations

from collections.abc import Iterable


def progress(iterable: Iterable, *, total: int | None = None, desc: str = "", verbose=0):
    """Wrap ``iterable`` in a progress bar when ``verbose`` and tqdm allow it."""
    if not verbose:
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return iterable
    return tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True)
