"""skdse's numerical engine: arrays, kernels, operators, spectra and where they run.

The lowest layer of the package: it imports nothing from skdse outside
``skdse._engine`` (an import-linter contract in ``pyproject.toml`` checks it).
"""
