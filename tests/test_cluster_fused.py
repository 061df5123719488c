"""slq's Lanczos step on a Dask cluster in a few tasks per row chunk.

``ClusterVectors.lanczos_step`` does a step's vector work (the projection of
the top eigenvector, alpha, two Gram-Schmidt passes, the norm and the next
vectors) in three passes of one task per row chunk, each followed by one
small task that sums the chunks' partial results, and one task per chunk
that scales the next vectors; the client waits once per step, for alpha and
b. Before, each vector operation was its own dask graph (about 140 tasks
per row chunk and step, and two waits). The operator here is diagonal, one
task per chunk, so the tasks counted are the step's vector work.
"""

import numpy as np
import pytest

from skdse._engine.slq import LocalVectors, lanczos_quadrature

from ._cluster import local_cluster

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

pytestmark = [
    pytest.mark.xdist_group("cluster_fused"),
    pytest.mark.filterwarnings("ignore:Port 8787 is already in use"),
]

CHUNKS = (100, 100, 100, 100, 100, 100)
N = sum(CHUNKS)
K = 5


@pytest.fixture(scope="module")
def client():
    with local_cluster(processes=False) as (_, c):
        yield c


def _problem(distinct: int | None):
    """A diagonal operator with top eigenvector e_0 (eigenvalue 1), start columns off it
    (one of them zero: a recurrence inactive from the start)."""
    rng = np.random.default_rng(4)
    d = (
        rng.uniform(-0.9, 0.9, N)
        if distinct is None
        else rng.choice(np.linspace(-0.8, 0.8, distinct), N)
    )
    d[0] = 1.0
    v = np.zeros(N)
    v[0] = 1.0
    starts = rng.choice([-1.0, 1.0], size=(N, K))
    starts[0] = 0.0
    starts[:, 2] = 0.0
    return d, v, starts


def _in_memory(d, v, starts, n_steps, reorthogonalize):
    from array_api_compat import array_namespace

    space = LocalVectors(array_namespace(np.empty(0)))
    return lanczos_quadrature(
        lambda V: V * d[:, None], starts, n_steps, v, space, reorthogonalize=reorthogonalize
    )


def _on_cluster(client, d, v, starts, n_steps, reorthogonalize, calls=None):
    from skdse._engine.dask import ClusterVectors, scatter_rows

    space = ClusterVectors(CHUNKS)
    if calls is not None:
        host = space.host

        def counting(*arrays):
            calls.append(len(arrays))
            return host(*arrays)

        space.host = counting
    D = client.persist(scatter_rows(d[:, None], CHUNKS))
    V = space.keep(space.vector(v))
    S = space.keep(scatter_rows(starts, CHUNKS))
    distributed.wait([D, V, S])  # their tasks are not the recurrences'
    with distributed.get_task_stream(client) as stream:
        out = lanczos_quadrature(
            lambda Q: Q * D, S, n_steps, V, space, reorthogonalize=reorthogonalize
        )
    return out, len(stream.data)


@pytest.mark.parametrize("reorthogonalize", [True, False], ids=["full", "three-term"])
@pytest.mark.parametrize("distinct", [None, 4], ids=["no-breakdown", "breakdown"])
def test_fused_step_is_the_in_memory_step(client, reorthogonalize, distinct):
    d, v, starts = _problem(distinct)
    nodes, weights = _in_memory(d, v, starts, 10, reorthogonalize)
    (got_nodes, got_weights), _ = _on_cluster(client, d, v, starts, 10, reorthogonalize)
    if distinct is not None:  # an invariant Krylov space: the recurrences stop early
        assert np.all(weights[:, distinct:] == 0) and np.all(got_weights[:, distinct:] == 0)
    assert np.all(weights[2] == 0) and np.all(got_weights[2] == 0)  # the zero start
    # the same steps in another summation order (float64 rounding only)
    np.testing.assert_allclose(got_nodes, nodes, rtol=0, atol=1e-9)
    np.testing.assert_allclose(got_weights, weights, rtol=0, atol=1e-9)


@pytest.mark.parametrize("reorthogonalize", [True, False], ids=["full", "three-term"])
def test_a_step_is_a_few_tasks_per_row_chunk_and_one_wait(client, reorthogonalize):
    d, v, starts = _problem(None)
    calls = {4: [], 8: []}
    tasks = {m: _on_cluster(client, d, v, starts, m, reorthogonalize, calls[m])[1] for m in (4, 8)}
    per_step = (tasks[8] - tasks[4]) / 4
    # per chunk the product (one task here), three passes and the scaling, and three
    # sums of partial results: 5 per chunk + 3 (one task per chunk to spare; before:
    # ~140 tasks per chunk and step)
    assert per_step <= 6 * len(CHUNKS) + 3
    # the client waits once per step (and once for the starts' norms)
    assert len(calls[8]) == 8 + 1
