"""The public namespace (issue 13, item 6): DSE/DSMI at skdse, baselines in skdse.baselines."""

import inspect
import json
import re
import subprocess
import sys
import warnings

import pytest

import skdse
import skdse._baseline_estimators
import skdse._baselines
import skdse._rank_measures
import skdse.baselines

BASELINES = [
    "BaselineEntropy",
    "BaselineMI",
    "adjacency_spectral_entropy",
    "adjacency_spectral_mutual_information",
    "classic_mutual_information",
    "classic_shannon_entropy",
    "diffusion_matrix_entry_entropy",
    "matrix_entry_mutual_information",
]
#: Added in skdse.baselines only (issue 15, item 6): never top-level names.
RANK_MEASURES = ["EffectiveRank", "VendiScore", "effective_rank", "vendi_score"]


def _private(name):
    for module in (skdse._baselines, skdse._baseline_estimators, skdse._rank_measures):
        if name in vars(module):
            return vars(module)[name]
    raise AssertionError(f"{name} is in neither private baseline module")


def test_baselines_all_resolves_to_the_private_objects():
    assert sorted(skdse.baselines.__all__) == sorted(BASELINES + RANK_MEASURES)
    for name in skdse.baselines.__all__:
        assert getattr(skdse.baselines, name) is _private(name)


def test_importing_from_skdse_baselines_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from skdse.baselines import BaselineEntropy, classic_shannon_entropy

    assert BaselineEntropy is _private("BaselineEntropy")
    assert classic_shannon_entropy is _private("classic_shannon_entropy")


def test_from_skdse_import_baseline_warns_once_and_points_at_the_caller():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from skdse import BaselineEntropy
    future = [w for w in caught if issubclass(w.category, FutureWarning)]
    assert len(future) == 1 and len(caught) == 1
    assert "skdse.baselines.BaselineEntropy" in str(future[0].message)
    assert future[0].filename == __file__  # stacklevel: the line that imports it
    assert BaselineEntropy is skdse.baselines.BaselineEntropy


@pytest.mark.parametrize("name", BASELINES)
def test_top_level_baseline_attribute_warns_and_returns_the_same_object(name):
    with pytest.warns(FutureWarning, match=rf"skdse\.baselines\.{name}\b") as record:
        obj = getattr(skdse, name)
    assert len(record) == 1
    assert obj is getattr(skdse.baselines, name)


def test_top_level_lists_only_the_dse_dsmi_api():
    assert sorted(skdse.__all__) == [
        "DiffusionSpectralEntropy",
        "DiffusionSpectralMI",
        "InsufficientMemoryError",
        "diffusion_spectral_entropy",
        "diffusion_spectral_mutual_information",
        "partition_reference",
    ]
    assert not set(BASELINES) & set(dir(skdse))
    with pytest.raises(AttributeError, match="no_such_name"):
        skdse.no_such_name  # noqa: B018
    namespace = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        exec("from skdse import *", namespace)
    assert not set(BASELINES) & set(namespace)


_IMPORT_PROBE = """
import builtins, json, sys
heavy = {"cupy", "torch", "dask", "pandas", "matplotlib"}
by_skdse = []
original = builtins.__import__
def probe(name, globals=None, locals=None, fromlist=(), level=0):
    importer = (globals or {}).get("__name__", "")
    if level == 0 and name.split(".")[0] in heavy and importer.split(".")[0] == "skdse":
        by_skdse.append([importer, name])
    return original(name, globals, locals, fromlist, level)
builtins.__import__ = probe
import joblib, scipy.linalg, sklearn.base, sklearn.utils.validation
before = {m for m in heavy if m in sys.modules}
import skdse, skdse.baselines, skdse.scoring
new = sorted(m for m in heavy if m in sys.modules and m not in before)
print(json.dumps({"by_skdse": by_skdse, "new": new}))
"""


def test_import_skdse_imports_no_optional_library():
    # scikit-learn itself imports pandas when it is installed; what skdse adds must be none
    out = subprocess.run(
        [sys.executable, "-c", _IMPORT_PROBE], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"by_skdse": [], "new": []}


_EXAMPLES = re.compile(r"^Examples\n-{8,}\n(.*?)(?:^\S[^\n]*\n-{3,}\n|\Z)", re.M | re.S)


@pytest.mark.parametrize(
    "module, name",
    [(skdse, n) for n in skdse.__all__] + [(skdse.baselines, n) for n in skdse.baselines.__all__],
)
def test_every_public_name_has_an_examples_section(module, name):
    doc = inspect.getdoc(getattr(module, name)) or ""
    match = _EXAMPLES.search(doc)
    assert match and ">>> " in match.group(1), f"{module.__name__}.{name} has no example"


def test_module_docstrings_have_examples():
    for module in (skdse, skdse.baselines):
        match = _EXAMPLES.search(inspect.getdoc(module))
        assert match and ">>> " in match.group(1), module.__name__
