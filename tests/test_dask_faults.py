"""A Dask worker killed (SIGKILL) during a fit: the fit completes with the same value.

Each test has a LocalCluster of its own (2 worker processes, 1 thread each)
and kills a worker at a point fixed by the fit's progress (right after a
product's vectors were scattered, or right before a step's computation),
never after a sleep. The nanny restarts the killed worker ("a replacement
joins") or has been told not to ("the survivors suffice"). The undisturbed
fit runs first on the same cluster, with the same seed (so the same probes).
"""

import os
import signal
import threading
import time

import numpy as np
import pytest

import skdse
import skdse._engine.dask as dask_mod

from ._cluster import local_cluster

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")

pytestmark = [
    # clusters of their own, killed workers: keep these tests on one xdist worker
    pytest.mark.xdist_group("dask_faults"),
    pytest.mark.filterwarnings("ignore:Port 8787 is already in use"),
]

N = 800
X_NP = np.random.default_rng(0).normal(size=(N, 6)) + np.repeat(np.eye(6)[:4] * 4, N // 4, axis=0)
CHUNKS = (200, 6)
SLQ = dict(
    solver="slq", max_samples=None, n_probes=8, n_deflate=8, n_lanczos_steps=10, random_state=0
)
# the same probes and float32 kernel blocks before and after the loss: equal up
# to float32 rounding of products summed in a different order (~1e-7 relative)
TOL = 1e-5
SETTLE_S = 60  # bound on the scheduler noticing a death / a nanny restarting a worker


@pytest.fixture
def cluster():
    with local_cluster() as (cluster, client):
        yield cluster, client


def _until(condition, what: str) -> None:
    deadline = time.monotonic() + SETTLE_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _stream_index(dask_scheduler=None) -> int:
    return dask_scheduler.get_task_stream_index()


def _stream_keys_since(index: int, dask_scheduler=None) -> list:
    return [t["key"] for t in dask_scheduler.get_task_stream(start_index=index)]


def kill_worker(cluster, client, address: str, replace: bool) -> int:
    """SIGKILL the worker process at ``address``; return once the scheduler removed it.

    With ``replace`` its nanny starts a new worker and we wait for it to join;
    otherwise the nanny is told first not to restart it. Returns the position
    of the kill in the scheduler's task stream.
    """
    nanny = next(n for n in cluster.workers.values() if n.worker_address == address)
    n_before = len(client.nthreads())
    if not replace:
        nanny.close_gracefully()  # "do not restart workers if they go away"
    killed_at = client.run_on_scheduler(_stream_index)
    os.kill(nanny.process.process.pid, signal.SIGKILL)
    _until(lambda: address not in client.nthreads(), "the scheduler to remove the worker")
    if replace:
        _until(lambda: len(client.nthreads()) == n_before, "the replacement worker")
    return killed_at


def choose_victim(client, candidates, keys, record) -> str:
    """Of ``candidates``, the worker holding the most sole copies of ``keys``.

    Tasks on the other worker may have copied some of them there (then the
    survivor still has them); what only the victim holds must be recomputed.
    """
    who_has = client.who_has()

    def held(address):
        mine = [k for k in keys if address in who_has.get(k, ())]
        return sum(len(who_has[k]) == 1 for k in mine), len(mine)

    victim = max(sorted(candidates), key=held)
    assert held(victim)[1] >= 1, "the worker to kill holds none of the persisted keys"
    record["victim"] = victim
    record["sole"] = {k for k in keys if tuple(who_has.get(k, ())) == (victim,)}
    return victim


def record_persisted(monkeypatch) -> set:
    """The keys of what the fit persists (the operator's blocks), filled as it persists."""
    keys = set()
    original = dask.persist

    def persist(*args, **kwargs):
        out = original(*args, **kwargs)
        keys.update(f.key for f in distributed.futures_of(out))
        return out

    monkeypatch.setattr(dask, "persist", persist)
    return keys


def recomputed_after(client, killed_at: int, lost) -> set:
    """The keys among ``lost`` that a task computed again after the kill."""
    return set(client.run_on_scheduler(_stream_keys_since, killed_at)) & set(lost)


def lost_on_removal(client, address: str) -> dict:
    """The scheduler's record of what the worker's removal lost."""
    events = [e for _, e in client.get_events(address) if e.get("action") == "remove-worker"]
    assert len(events) == 1
    return events[0]


def kill_after_scatter(monkeypatch, cluster, client, at_call: int, replace: bool, record):
    """Kill a worker holding scattered vectors of the ``at_call``-th scatter, mid-product.

    The victim is, of the workers holding the vectors just sent, the one
    holding the most of the operator's persisted blocks, so that both kinds
    of data are lost.
    """
    original = dask_mod.to_cluster
    calls = []
    persisted = record["persisted"] = record_persisted(monkeypatch)

    def hooked(blocks):
        refs = original(blocks)
        calls.append(len(blocks))
        if len(calls) == at_call:
            held = client.who_has(refs)
            holders = {a for addrs in held.values() for a in addrs}
            victim = choose_victim(client, holders, persisted, record)
            record["killed_at"] = kill_worker(cluster, client, victim, replace)
        return refs

    monkeypatch.setattr(dask_mod, "to_cluster", hooked)
    return calls


def kill_before(monkeypatch, name: str, cluster, client, X, replace: bool, record):
    """Kill the worker holding most of the persisted X's chunks when ``name`` is called."""
    original = getattr(dask_mod, name)

    record["persisted"] = {f.key for f in distributed.futures_of(X)}

    def hooked(*args, **kwargs):
        if "victim" not in record:
            victim = choose_victim(client, client.nthreads(), record["persisted"], record)
            record["killed_at"] = kill_worker(cluster, client, victim, replace)
        return original(*args, **kwargs)

    monkeypatch.setattr(dask_mod, name, hooked)


def check_lineage_used(client, record, required: bool) -> None:
    """Persisted blocks held only by the killed worker were recomputed from their tasks.

    ``required``: the victim must have held some (the dense operator's blocks
    are never copied: each product's task runs where its block is).
    """
    sole = record["sole"]
    assert sole or not required
    if sole:
        lost = lost_on_removal(client, record["victim"])["lost-computed-tasks"]
        assert sole <= set(lost)  # went with the worker ...
        # ... and were computed again by their tasks (lineage), not read from anywhere
        assert recomputed_after(client, record["killed_at"], sole)


@pytest.mark.parametrize(
    ("operator", "replace"), [("dense", True), ("matrix_free", False)], ids=["dense", "mfree"]
)
def test_slq_survives_a_killed_worker(cluster, monkeypatch, operator, replace):
    cluster, client = cluster
    X = da.from_array(X_NP, chunks=CHUNKS)
    kw = dict(SLQ, operator=operator)
    undisturbed = skdse.diffusion_spectral_entropy(X, **kw)
    record = {}
    # the 3rd product (the matrix-free operator's 1st one is its degrees)
    calls = kill_after_scatter(monkeypatch, cluster, client, 3, replace, record)
    disturbed = skdse.diffusion_spectral_entropy(X, **kw)
    assert "victim" in record and len(calls) > 3  # killed mid-fit, and the fit went on
    assert abs(disturbed - undisturbed) < TOL
    lost = lost_on_removal(client, record["victim"])
    assert lost["lost-scattered-tasks"]  # the product's vectors were lost: sent again
    check_lineage_used(client, record, required=operator == "dense")
    assert len(client.nthreads()) == (2 if replace else 1)


@pytest.mark.parametrize(
    ("kernel", "replace"), [("gaussian", False), ("knn", True)], ids=["exact", "knn"]
)
def test_exact_and_knn_survive_a_killed_worker(cluster, monkeypatch, kernel, replace):
    cluster, client = cluster
    X = client.persist(da.from_array(X_NP, chunks=CHUNKS))  # lineage: from_array's tasks
    distributed.wait(X)
    kw = dict(solver="exact", max_samples=None)
    if kernel == "knn":
        kw.update(affinity="knn", n_neighbors=10)
    undisturbed = skdse.DiffusionSpectralEntropy(**kw).fit(X).entropy_
    record = {}
    step = "dask_knn_search" if kernel == "knn" else "dask_diffusion_operator"
    kill_before(monkeypatch, step, cluster, client, X, replace, record)
    disturbed = skdse.DiffusionSpectralEntropy(**kw).fit(X).entropy_
    assert "victim" in record
    # the same float64 arithmetic on either worker (one thread each): rounding only
    assert abs(disturbed - undisturbed) < 1e-9
    check_lineage_used(client, record, required=False)
    assert len(client.nthreads()) == (2 if replace else 1)


def fit_with_bound(fit, bound_s: float):
    """Run ``fit`` in a thread; fail the test (not hang) if it takes over ``bound_s``."""
    out = {}

    def target():
        try:
            out["value"] = fit()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            out["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    start = time.monotonic()
    thread.start()
    thread.join(bound_s)
    assert not thread.is_alive(), f"the fit still runs after {bound_s} s with no worker"
    return out, time.monotonic() - start


@pytest.mark.parametrize("path", ["slq", "exact"])
def test_no_worker_left_fails_clearly_in_bounded_time(cluster, monkeypatch, path):
    cluster, client = cluster
    X = client.persist(da.from_array(X_NP, chunks=CHUNKS))
    distributed.wait(X)
    kill_all = {}

    def kill_everyone():
        kill_all["at"] = time.monotonic()
        for address in sorted(client.nthreads()):
            kill_worker(cluster, client, address, replace=False)

    if path == "slq":  # mid-product, right after its vectors were scattered
        original = dask_mod.to_cluster

        def hooked(blocks):
            refs = original(blocks)
            if not kill_all:
                kill_everyone()
            return refs

        monkeypatch.setattr(dask_mod, "to_cluster", hooked)
        kw = dict(SLQ, operator="dense")
    else:  # while the gathered operator's tasks wait for a worker
        original = distributed.Client.compute

        def hooked(self, collections, *args, **kwargs):
            futures = original(self, collections, *args, **kwargs)
            if not kill_all and any(getattr(c, "shape", None) == (N, N) for c in collections):
                kill_everyone()  # the gathered operator was just submitted
            return futures

        monkeypatch.setattr(distributed.Client, "compute", hooked)
        kw = dict(solver="exact", max_samples=None)
    grace = 2.0
    with dask.config.set({"skdse.worker-grace-period": f"{grace}s"}):
        out, _ = fit_with_bound(lambda: skdse.diffusion_spectral_entropy(X, **kw), 60)
    assert kill_all, "no worker was killed during the fit"
    assert not client.nthreads()
    error = out.get("error")
    assert isinstance(error, RuntimeError), out
    message = str(error)
    assert "no Dask worker is left" in message
    assert client.scheduler.address in message
    assert "skdse.worker-grace-period" in message and "Start workers" in message
    # it waited for a replacement for the grace period, and not much longer
    waited = time.monotonic() - kill_all["at"]
    assert grace <= waited < grace + 30
