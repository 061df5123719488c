"""The DSE function (skdse/_entropy.py) and its spectrum cache (``memory=``)."""

import os

import pytest

from skdse import DiffusionSpectralEntropy, diffusion_spectral_entropy


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
