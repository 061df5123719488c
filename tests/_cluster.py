"""The ``distributed.LocalCluster`` the Dask tests run on: workers of one thread (by
default), no dashboard."""

from contextlib import contextmanager


@contextmanager
def local_cluster(
    n_workers=2, processes=True, memory_limit="auto", threads_per_worker=1, **client_kw
):
    """``(cluster, client)`` of a LocalCluster of ``n_workers``, closed on exit.

    ``processes=False`` runs the workers as threads of the test's process.
    """
    import distributed

    with (
        distributed.LocalCluster(
            n_workers=n_workers,
            threads_per_worker=threads_per_worker,
            processes=processes,
            dashboard_address=None,
            memory_limit=memory_limit,
        ) as cluster,
        distributed.Client(cluster, **client_kw) as client,
    ):
        yield cluster, client
