"""A seeded approximate kNN graph is the same whatever numba's thread count (as in UMAP).

NN-descent's parallel updates make its graph depend on the number of numba
threads (Gaussian noise, N = 3000, D = 64, k = 15: 27 % of the candidate
lists and 6.6 % of the rows' final neighbours differed between 1 and 2
threads; on blobs or a noisy 3-d manifold, where it converges in a few
iterations, none did), so a search seeded through ``random_state`` runs on one thread;
with ``random_state=None`` it runs on the threads ``n_jobs`` allows.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
from sklearn.datasets import make_blobs

import skdse
from skdse._engine.resources import usable_cpu_count

# One public fit, its neighbour search recorded where it becomes the graph
# (knn_graph): DSE with the seeded approximate search, on numba's threads.
CHILD = r"""
import sys
import numpy as np
import skdse
from skdse._engine import knn

found = []
graph = knn.knn_graph
knn.knn_graph = lambda dist, idx: found.append((dist, idx)) or graph(dist, idx)
X = np.random.default_rng(0).normal(size=(3000, 64))  # no structure: NN-descent iterates long
skdse.diffusion_spectral_entropy(
    X, affinity="knn", neighbors="approximate", solver="slq", random_state=0,
    n_deflate=4, n_probes=4, n_lanczos_steps=10,
)
np.savez(sys.argv[1], dist=found[0][0], idx=found[0][1])
"""


@pytest.mark.reproducibility
def test_seeded_approximate_graph_does_not_depend_on_numba_threads(tmp_path):
    pytest.importorskip("pynndescent")
    graphs = []
    for threads in (1, 2):
        out = tmp_path / f"threads{threads}.npz"
        env = dict(os.environ, NUMBA_NUM_THREADS=str(threads))
        run = subprocess.run(
            [sys.executable, "-c", CHILD, str(out)], env=env, capture_output=True, text=True
        )
        assert run.returncode == 0, run.stderr
        graphs.append(np.load(out))
    one, two = graphs
    # Same integer seed, same single-threaded NN-descent: the same candidate
    # lists, so the same neighbours, index for index.
    assert np.array_equal(one["idx"], two["idx"])
    # each distance is re-measured in float64 from the same rows, in another process
    np.testing.assert_allclose(one["dist"], two["dist"], rtol=1e-12, atol=0)


class _Recorder:
    """Stands in for pynndescent.NNDescent: records n_jobs, proposes random candidates."""

    calls: list = []

    def __init__(self, data, n_neighbors, random_state, n_jobs=None):
        type(self).calls.append(n_jobs)
        rng = np.random.default_rng(0)
        self.neighbor_graph = (rng.integers(data.shape[0], size=(data.shape[0], n_neighbors)),)


@pytest.mark.parametrize(
    "random_state, n_jobs, expected",
    [(0, 2, 1), (np.random.RandomState(0), 2, 1), (None, 1, 1), (None, 2, 2)],
)
def test_nn_descent_threads_follow_random_state_and_n_jobs(
    monkeypatch, random_state, n_jobs, expected
):
    numba = pytest.importorskip("numba")
    pynndescent = pytest.importorskip("pynndescent")
    monkeypatch.setattr(pynndescent, "NNDescent", _Recorder)
    monkeypatch.setattr(_Recorder, "calls", [])
    X = make_blobs(200, 4, centers=3, random_state=0)[0]
    skdse.diffusion_spectral_entropy(
        X, affinity="knn", neighbors="approximate", n_neighbors=5, solver="exact",
        random_state=random_state, n_jobs=n_jobs,
    )  # fmt: skip
    assert _Recorder.calls == [min(expected, numba.config.NUMBA_NUM_THREADS)]


def test_mi_terms_search_on_one_thread_when_seeded(monkeypatch):
    numba = pytest.importorskip("numba")
    pynndescent = pytest.importorskip("pynndescent")
    monkeypatch.setattr(pynndescent, "NNDescent", _Recorder)
    monkeypatch.setattr(_Recorder, "calls", [])
    X, y = make_blobs(300, 4, centers=2, random_state=0)
    kw = dict(affinity="knn", neighbors="approximate", n_neighbors=5, solver="exact", n_repeats=1)
    skdse.diffusion_spectral_mutual_information(X, y, random_state=0, **kw)
    assert _Recorder.calls and set(_Recorder.calls) == {1}
    _Recorder.calls.clear()
    skdse.diffusion_spectral_mutual_information(X, y, random_state=None, **kw)
    # n_jobs=None: the terms run one at a time, each on every usable CPU
    assert set(_Recorder.calls) == {min(usable_cpu_count(), numba.config.NUMBA_NUM_THREADS)}
