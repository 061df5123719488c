"""Sphinx configuration of the skdse documentation.

Build (from the repository root): ``python -m sphinx -W -b html docs docs/_build/html``.
The gallery examples run during the build; ``SKDSE_DOCS_PLOT=0`` skips running them.
"""

import os
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import skdse  # noqa: E402

# sphinx-gallery looks for the shortest import path of skdse.baselines.* by
# trying skdse.<name>, which answers with the deprecated alias's FutureWarning
warnings.filterwarnings(
    "ignore", r"skdse\.\w+ moved to skdse\.baselines", FutureWarning, r"sphinx_gallery\b"
)

project = "skdse"
author = "skdse developers"
release = version = skdse.__version__
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
autosummary_generate = True
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
html_theme = "pydata_sphinx_theme"
html_theme_options = {"navigation_with_keys": False}
html_title = f"skdse {version}"
exclude_patterns = ["_build"]
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": "/plot_",
    "plot_gallery": os.environ.get("SKDSE_DOCS_PLOT", "1") != "0",
    "download_all_examples": False,
    "remove_config_comments": True,
}
