"""``python -m skdse``: the ``skdse`` command line (``python -m skdse demo`` runs the demo)."""

import sys

from .cli import main

sys.exit(main())
