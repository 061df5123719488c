"""``python -m skdse``: run the demonstration on the bundled digits data."""

from ._demo import main

main()
