"""The package as a user installs it: metadata, extras and an sdist whose tests run."""

import subprocess
import sys
import tarfile
from importlib.metadata import metadata
from pathlib import Path

import pytest

import skdse

ROOT = Path(__file__).resolve().parents[1]


def test_one_version_source():
    assert metadata("skdse")["Version"] == skdse.__version__


def test_license_is_an_spdx_expression_with_its_file():
    meta = metadata("skdse")
    assert meta["License-Expression"] == "BSD-3-Clause"
    assert "LICENSE" in (meta.get_all("License-File") or [])
    assert (ROOT / "LICENSE").read_text().startswith("BSD 3-Clause License")


def test_no_extra_pins_an_exact_version_or_brings_torch():
    requirements = metadata("skdse").get_all("Requires-Dist")
    for req in requirements:
        spec = req.split(";")[0]
        assert "==" not in spec and "===" not in spec, req
        assert not spec.strip().lower().startswith("torch"), req


@pytest.fixture(scope="module")
def sdist(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    (path,) = out.glob("skdse-*.tar.gz")
    return path


def test_sdist_carries_what_its_tests_need(sdist):
    with tarfile.open(sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    for needed in (
        "LICENSE",
        "conftest.py",
        "tests/conftest.py",
        "tests/_data.py",
        "tests/_tolerances.py",
        "tests/test_spectrum.py",
        "skdse/__init__.py",
        "pyproject.toml",
    ):
        assert needed in names, needed
    assert not any(name.startswith("docs/_build") for name in names)


def test_tests_run_from_the_unpacked_sdist(sdist, tmp_path):
    with tarfile.open(sdist) as tar:
        tar.extractall(tmp_path, filter="data")
    (root,) = tmp_path.glob("skdse-*")
    # the unpacked sources are imported (the working directory comes first on sys.path)
    where = subprocess.run(
        [sys.executable, "-c", "import skdse; print(skdse.__file__)"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(root)
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_spectrum.py"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert " passed" in out.stdout
