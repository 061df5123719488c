"""slq's Lanczos vectors on a Dask cluster (``skdse._engine.dask.ClusterVectors``).

The vectors live in X's row chunks on the workers; the client draws the
random starts block by block and receives only small results (one number
per recurrence and step, and the operator's degrees). Most checks run on
Dask's synchronous scheduler; what reaches the client is checked on a
LocalCluster of worker processes.
"""

import numpy as np
import pytest

import skdse
from skdse._engine.slq import LocalVectors, _draw

from ._cluster import local_cluster
from ._tolerances import SLQ_TOL

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

pytestmark = [
    pytest.mark.xdist_group("cluster_vectors"),
    pytest.mark.filterwarnings("ignore:Port 8787 is already in use"),
]

N = 900
X_NP = np.random.default_rng(0).normal(size=(N, 5)) + np.repeat(np.eye(5)[:3] * 3, N // 3, axis=0)
SLQ = dict(solver="slq", random_state=0, max_samples=None, n_lanczos_steps=12)
# The same probes and the same float32 kernel blocks; only the float64
# summation order of the products differs between the cluster and memory.
CLUSTER_TOL = 1e-6


def _numpy_space():
    from array_api_compat import array_namespace

    return LocalVectors(array_namespace(np.empty(0)))


@pytest.mark.parametrize("kind", ["normal", "rademacher"])
def test_random_starts_are_the_in_memory_draws(kind):
    from skdse._engine.dask import ClusterVectors

    chunks = (7, 300, 1, 92)
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    with dask.config.set(scheduler="synchronous"):
        V = ClusterVectors(chunks).random(a, kind, (400, 6))
        assert V.chunks[0] == chunks
        drawn = V.compute()
    # the same generator, the same stream, no arithmetic: the same numbers
    np.testing.assert_array_equal(drawn, _numpy_space().random(b, kind, (400, 6)))
    assert a.bit_generator.state == b.bit_generator.state
    assert np.array_equal(drawn, _draw(np.random.default_rng(3), kind, (400, 6)))


@pytest.mark.parametrize("lanczos", ["full", "plain"])
@pytest.mark.parametrize("operator", ["dense", "matrix_free"])
def test_cluster_lanczos_is_the_in_memory_one(monkeypatch, lanczos, operator):
    import skdse._engine.solve as solve_mod

    # the full Krylov basis (kept on the workers) or the three-term recurrence
    monkeypatch.setattr(solve_mod, "FULL_BASIS_FRACTION", np.inf if lanczos == "full" else 0.0)
    X = da.from_array(X_NP, chunks=(250, 5))
    ref = skdse.diffusion_spectral_entropy(X_NP, operator=operator, **SLQ)
    with dask.config.set(scheduler="synchronous"):
        got = skdse.diffusion_spectral_entropy(X, operator=operator, **SLQ)
    assert abs(got - ref) < CLUSTER_TOL


@pytest.fixture(scope="module")
def client():
    with local_cluster() as (_, c):
        yield c


def test_lost_vectors_restart_from_the_same_draws(client, monkeypatch):
    """A Lanczos run that loses its vectors runs again from the same random state."""
    import skdse._engine.dask as dask_mod

    X = client.persist(da.from_array(X_NP, chunks=(300, 5)))
    undisturbed = skdse.diffusion_spectral_entropy(X, operator="matrix_free", **SLQ)
    calls = {"n": 0}
    original = dask_mod.ClusterVectors.host

    def losing(self, *arrays):
        calls["n"] += 1
        if calls["n"] == 9:  # mid-recurrence, once
            raise dask_mod.ClusterDataLost("lost with a worker (simulated)")
        return original(self, *arrays)

    monkeypatch.setattr(dask_mod.ClusterVectors, "host", losing)
    disturbed = skdse.diffusion_spectral_entropy(X, operator="matrix_free", **SLQ)
    assert calls["n"] > 9  # the run went on after the loss
    # the same draws and the same products in the same order: rounding only
    assert abs(disturbed - undisturbed) < 1e-12


@pytest.mark.parametrize("error", ["lost", "user"])
def test_lanczos_restarts_are_bounded_and_only_for_lost_data(client, monkeypatch, error):
    import skdse._engine.dask as dask_mod

    X = client.persist(da.from_array(X_NP, chunks=(300, 5)))
    calls = {"n": 0}
    raised = dask_mod.ClusterDataLost if error == "lost" else FileNotFoundError

    def failing(self, *arrays):
        calls["n"] += 1
        raise raised("simulated")

    monkeypatch.setattr(dask_mod.ClusterVectors, "host", failing)
    with pytest.raises(raised, match="simulated"):
        skdse.diffusion_spectral_entropy(X, operator="matrix_free", **SLQ)
    # lost data: the run again from its draws, a bounded number of times; any other
    # error (a file the graph reads, say) is the user's, raised at once
    assert calls["n"] == (dask_mod.LOSS_RETRIES + 1 if error == "lost" else 1)


def _sizes(out) -> list[int]:
    return [int(np.size(a)) for a in out]


@pytest.mark.parametrize(
    "kw",
    [dict(operator="matrix_free"), dict(operator="dense"), dict(affinity="knn")],
    ids=["matrix-free", "dense", "knn"],
)
def test_only_coefficients_and_degrees_reach_the_client(client, monkeypatch, kw):
    """Every result the client receives in a fit: at most N numbers (the degrees, once)."""
    import skdse._engine.dask as dask_mod

    received = []
    original = dask_mod.compute_on_cluster

    def recording(build):
        out = original(build)
        received.extend(_sizes(out))
        return out

    monkeypatch.setattr(dask_mod, "compute_on_cluster", recording)
    X = client.persist(da.from_array(X_NP, chunks=(225, 5)))
    kw = {**kw, "n_deflate": 64}  # one slq run ("auto" may run again: as many again per run)
    got = skdse.diffusion_spectral_entropy(X, **SLQ, **kw)
    n_columns = 32 + 64  # probes and deflated directions: one number each per step
    assert received and max(received) <= N
    assert sum(size == N for size in received) == 1  # the degrees
    assert sum(size for size in received if size < N) < 4 * n_columns * (SLQ["n_lanczos_steps"] + 4)
    # (before the vectors moved: every product's N x 96 result came back)
    ref = skdse.diffusion_spectral_entropy(X_NP, **SLQ, **kw)
    assert abs(got - ref) < (1e-9 if "affinity" in kw else CLUSTER_TOL)
    assert abs(got - ref) < SLQ_TOL
