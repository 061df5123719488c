"""The DSE function (skdse/_entropy.py) and its spectrum cache (``memory=``)."""

import os

import joblib
import numpy as np
import pytest

import skdse
import skdse._engine.solve as engine
from skdse import DiffusionSpectralEntropy, DiffusionSpectralMI, diffusion_spectral_entropy

from ._data import DATASETS


def test_memory_pointing_at_a_file_names_memory(X, tmp_path):
    path = tmp_path / "a_file"
    path.write_text("")
    for location in (path, str(path), str(path / "below")):
        with pytest.raises(ValueError, match=r"memory.*a_file"):
            diffusion_spectral_entropy(X, memory=location)
        with pytest.raises(ValueError, match=r"memory.*a_file"):
            DiffusionSpectralEntropy(memory=location).fit(X)


def test_unwritable_memory_folder_names_memory(X, tmp_path, monkeypatch):
    # root may write anywhere, so the permission check itself is faked
    folder = tmp_path / "cache"
    folder.mkdir()
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda p, mode: False if os.fspath(p) == str(folder) else real_access(p, mode)
    )
    with pytest.raises(ValueError, match=r"memory.*not writable"):
        diffusion_spectral_entropy(X, memory=str(folder))


def test_memory_folder_is_created_and_used(X, tmp_path):
    folder = tmp_path / "new" / "cache"
    h = diffusion_spectral_entropy(X, memory=folder)
    assert folder.is_dir() and diffusion_spectral_entropy(X, memory=folder) == h


def test_cache_hits_are_bit_identical_and_skip_the_solver(tmp_path, monkeypatch):
    X = DATASETS["blobs"](300)
    mem = joblib.Memory(str(tmp_path / "m"), verbose=0)
    first = DiffusionSpectralEntropy(memory=mem, t=1).fit(X)

    def boom(*args, **kwargs):
        raise AssertionError("the eigensolver ran on a cache hit")

    monkeypatch.setattr(engine, "exact_eigenvalues", boom)
    again = DiffusionSpectralEntropy(memory=str(tmp_path / "m"), t=1).fit(X)
    assert again.entropy_ == first.entropy_
    np.testing.assert_array_equal(again.eigenvalues_, first.eigenvalues_)
    other_t = DiffusionSpectralEntropy(memory=mem, t=3).fit(X)  # same spectrum, another t
    assert other_t.entropy_ == first.entropy_profile(3)
    with pytest.raises(AssertionError, match="eigensolver"):
        DiffusionSpectralEntropy(memory=mem, bandwidth=3.0).fit(X)  # another kernel: a miss
    monkeypatch.undo()
    y = np.repeat([0, 1, 2], 100)
    a = DiffusionSpectralMI(memory=mem, random_state=0).fit(X, y)
    b = DiffusionSpectralMI(memory=mem, random_state=0).fit(X, y)
    assert a.mutual_information_ == b.mutual_information_
    assert skdse.diffusion_spectral_entropy(X, memory=mem) == first.entropy_
