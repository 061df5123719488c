"""Root pytest configuration, loaded before any test module imports SciPy."""

import os

# scikit-learn's common checks exercise array-API input only when SciPy's
# array-API support is switched on, and SciPy reads this at import time.
os.environ.setdefault("SCIPY_ARRAY_API", "1")
