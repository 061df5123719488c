"""Memory and CPUs as the container allows (cgroups), and ``n_jobs``.

The cgroup and ``/proc`` files are faked in a temporary tree that
``skdse._engine.resources.ROOT`` points at.
"""

import inspect
import warnings

import joblib
import numpy as np
import pytest

import skdse._engine.resources as engine_resources
from skdse import (
    DiffusionSpectralEntropy,
    DiffusionSpectralMI,
    InsufficientMemoryError,
    diffusion_spectral_entropy,
    diffusion_spectral_mutual_information,
)
from skdse._engine import placement as engine_placement
from skdse._engine import resources as _resources
from skdse._engine import solve as engine_solve
from skdse._engine.operators import MatrixFreeOperator
from skdse._engine.placement import LOCAL
from skdse._engine.resources import (
    available_memory_bytes,
    cgroup_cpu_limit,
    cpu_budget,
    threads_per_task,
    usable_cpu_count,
)
from skdse._params import entropy_params
from skdse.scoring import make_dse_scorer, make_dsmi_scorer

from ._data import ENTROPY_ENTRY_POINTS, X_OK, Y_OK

GiB, MiB = 2**30, 2**20
#: What cgroup v1 writes for "no limit" (2**63 - 1, page aligned).
V1_UNLIMITED = 9223372036854771712


def fake_tree(root, *, meminfo=16 * GiB, proc_cgroup="0::/\n", files=None):
    """A ``proc/`` and ``sys/fs/cgroup/`` tree under ``root``; ``files`` maps paths to text."""
    (root / "proc/self").mkdir(parents=True)
    if meminfo is not None:
        (root / "proc/meminfo").write_text(
            f"MemTotal:       {2 * meminfo // 1024} kB\nMemFree:        1000 kB\n"
            f"MemAvailable:   {meminfo // 1024} kB\n"
        )
    (root / "proc/self/cgroup").write_text(proc_cgroup)
    (root / "sys/fs/cgroup").mkdir(parents=True)
    for path, text in (files or {}).items():
        (root / "sys/fs/cgroup" / path).parent.mkdir(parents=True, exist_ok=True)
        (root / "sys/fs/cgroup" / path).write_text(text)
    return root


# --- memory ------------------------------------------------------------------


def test_cgroup_v2_limit_below_meminfo_wins(tmp_path):
    root = fake_tree(
        tmp_path,
        proc_cgroup="0::/user.slice/job42\n",
        files={
            "cgroup.controllers": "cpu memory\n",
            "user.slice/job42/memory.max": f"{GiB}\n",
            "user.slice/job42/memory.current": f"{256 * MiB}\n",
        },
    )
    assert available_memory_bytes(root) == GiB - 256 * MiB


def test_cgroup_v2_reclaimable_page_cache_counts_as_free(tmp_path):
    root = fake_tree(
        tmp_path,
        proc_cgroup="0::/job\n",
        files={
            "job/memory.max": f"{GiB}\n",
            "job/memory.current": f"{900 * MiB}\n",
            "job/memory.stat": f"anon {100 * MiB}\nfile {800 * MiB}\ninactive_file {700 * MiB}\n",
        },
    )
    assert available_memory_bytes(root) == GiB - 900 * MiB + 700 * MiB


def test_cgroup_v2_limit_of_an_ancestor_counts(tmp_path):
    # a SLURM job step: the limit sits on the job, the step's own cgroup says "max"
    root = fake_tree(
        tmp_path,
        proc_cgroup="0::/slurm/job_7/step_0\n",
        files={
            "slurm/job_7/memory.max": f"{2 * GiB}\n",
            "slurm/job_7/memory.current": f"{GiB}\n",
            "slurm/job_7/step_0/memory.max": "max\n",
            "slurm/job_7/step_0/memory.current": f"{512 * MiB}\n",
        },
    )
    assert available_memory_bytes(root) == GiB


def test_cgroup_v2_max_leaves_meminfo(tmp_path):
    root = fake_tree(
        tmp_path,
        meminfo=3 * GiB,
        files={"memory.max": "max\n", "memory.current": f"{GiB}\n"},
    )
    assert available_memory_bytes(root) == 3 * GiB


def test_container_without_cgroup_namespace_reads_the_mount_root(tmp_path):
    # /proc/self/cgroup names the host's path, which is not mounted in the container
    root = fake_tree(
        tmp_path,
        proc_cgroup="0::/system.slice/docker-abc.scope\n",
        files={"memory.max": f"{GiB}\n", "memory.current": f"{GiB // 4}\n"},
    )
    assert available_memory_bytes(root) == 3 * GiB // 4


def test_cgroup_v1_limit_below_meminfo_wins(tmp_path):
    root = fake_tree(
        tmp_path,
        proc_cgroup="5:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n0::/\n",
        files={
            "memory/docker/abc/memory.limit_in_bytes": f"{512 * MiB}\n",
            "memory/docker/abc/memory.usage_in_bytes": f"{128 * MiB}\n",
            "memory/docker/abc/memory.stat": f"inactive_file 1\ntotal_inactive_file {MiB}\n",
            "memory/memory.limit_in_bytes": f"{V1_UNLIMITED}\n",
            "memory/memory.usage_in_bytes": f"{8 * GiB}\n",
        },
    )
    assert available_memory_bytes(root) == 512 * MiB - 128 * MiB + MiB


def test_cgroup_v1_unlimited_leaves_meminfo(tmp_path):
    root = fake_tree(
        tmp_path,
        meminfo=5 * GiB,
        proc_cgroup="4:memory:/process_api/x\n",
        files={
            "memory/process_api/x/memory.limit_in_bytes": f"{V1_UNLIMITED}\n",
            "memory/process_api/x/memory.usage_in_bytes": f"{GiB}\n",
        },
    )
    assert available_memory_bytes(root) == 5 * GiB


@pytest.mark.parametrize("broken", ["directory", "garbage", "no usage"])
def test_unreadable_cgroup_files_leave_meminfo(tmp_path, broken):
    files = {"memory.max": "12 bytes?\n" if broken == "garbage" else "1000\n"}
    if broken != "no usage":
        files["memory.current"] = "10\n"
    root = fake_tree(tmp_path, meminfo=2 * GiB, files=files)
    if broken == "directory":
        (root / "sys/fs/cgroup/memory.max").unlink()
        (root / "sys/fs/cgroup/memory.max").mkdir()
    assert available_memory_bytes(root) == 2 * GiB


def test_no_meminfo_still_reads_the_cgroup(tmp_path):
    root = fake_tree(
        tmp_path, meminfo=None, files={"memory.max": "1000\n", "memory.current": "10\n"}
    )
    assert available_memory_bytes(root) == 990


def test_cgroup_limit_refuses_what_meminfo_alone_would_run(tmp_path, monkeypatch):
    # exact on 600 points needs ~3 MiB: plenty on the "machine", not in the container
    root = fake_tree(
        tmp_path,
        meminfo=64 * GiB,
        files={"memory.max": f"{4 * MiB}\n", "memory.current": f"{2 * MiB}\n"},
    )
    X = np.random.default_rng(0).normal(size=(600, 3))
    monkeypatch.setattr(_resources, "ROOT", str(root))
    with pytest.raises(InsufficientMemoryError, match=r"only 0\.0 GiB of memory"):
        diffusion_spectral_entropy(X, solver="exact")
    with pytest.raises(InsufficientMemoryError):
        DiffusionSpectralMI(solver="exact").fit(np.vstack([X, X]), np.repeat([0, 1], 600))
    (root / "sys/fs/cgroup/memory.max").write_text("max\n")
    assert diffusion_spectral_entropy(X, solver="exact") > 0


def test_slq_stores_the_operator_only_if_the_cgroup_has_room(tmp_path, monkeypatch):
    # dense float32 (~40 MB) + the full Lanczos basis (~69 MB) > half of 200 MB: recompute instead
    X = np.random.default_rng(0).normal(size=(3000, 2))
    params = entropy_params(solver="slq")
    root = fake_tree(tmp_path, files={"memory.max": f"{200 * 10**6}\n", "memory.current": "0\n"})
    monkeypatch.setattr(_resources, "ROOT", str(root))
    assert isinstance(
        engine_solve._slq_operator(LOCAL, X, 1.0, params, None, True, LOCAL.vector_memory(X)),
        MatrixFreeOperator,
    )
    (root / "sys/fs/cgroup/memory.max").write_text(f"{10**10}\n")
    assert not isinstance(
        engine_solve._slq_operator(LOCAL, X, 1.0, params, None, True, LOCAL.vector_memory(X)),
        MatrixFreeOperator,
    )


# --- CPUs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "proc_cgroup, files, expected",
    [
        ("0::/job\n", {"job/cpu.max": "150000 100000\n"}, 2),
        ("0::/job\n", {"job/cpu.max": "max 100000\n"}, None),
        ("0::/a/b\n", {"a/cpu.max": "100000 100000\n", "a/b/cpu.max": "max 100000\n"}, 1),
        ("0::/\n", {"cpu.max": "300000 100000\n"}, 3),
        (
            "3:cpu,cpuacct:/docker/x\n",
            {
                "cpu/docker/x/cpu.cfs_quota_us": "50000\n",
                "cpu/docker/x/cpu.cfs_period_us": "100000\n",
            },
            1,
        ),
        (
            "3:cpu,cpuacct:/docker/x\n",
            {"cpu/docker/x/cpu.cfs_quota_us": "-1\n", "cpu/docker/x/cpu.cfs_period_us": "100000\n"},
            None,
        ),
    ],
)
def test_cgroup_cpu_quota(tmp_path, proc_cgroup, files, expected):
    root = fake_tree(tmp_path, proc_cgroup=proc_cgroup, files=files)
    assert cgroup_cpu_limit(root) == expected


def test_cpu_quota_of_the_own_cgroup_caps_the_matrix_free_threads(tmp_path, monkeypatch):
    # joblib reads only the mount root's cpu.max; the process's own cgroup has the quota
    root = fake_tree(
        tmp_path, proc_cgroup="0::/run.scope\n", files={"run.scope/cpu.max": "1 100000"}
    )
    monkeypatch.setattr(_resources, "ROOT", str(root))
    assert usable_cpu_count() == 1
    X = np.random.default_rng(0).normal(size=(50, 2))
    assert MatrixFreeOperator(X, 1.0).n_threads == 1


def test_what_joblib_reads_caps_the_matrix_free_threads(monkeypatch):
    monkeypatch.setenv("LOKY_MAX_CPU_COUNT", "1")  # read by joblib.cpu_count, like a quota
    assert usable_cpu_count() == 1
    X = np.random.default_rng(0).normal(size=(50, 2))
    assert MatrixFreeOperator(X, 1.0).n_threads == 1


def test_cpu_budget_follows_scikit_learn_n_jobs(monkeypatch):
    monkeypatch.setattr(_resources, "usable_cpu_count", lambda: 8)
    assert [cpu_budget(n) for n in (None, -1, -2, -20, 1, 3, 16)] == [8, 8, 7, 1, 1, 3, 16]
    assert threads_per_task(None, 10) == 8  # None outside a context: one worker
    with joblib.parallel_config(n_jobs=4):
        assert threads_per_task(None, 10) == 2
    assert threads_per_task(4, 10) == 1
    assert threads_per_task(4, 2) == 2  # two tasks: two workers busy


class _Recorder(MatrixFreeOperator):
    threads: list = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.threads.append(self.n_threads)


@pytest.mark.parametrize(
    "n_jobs, context, threads",
    [(None, None, 4), (2, None, 1), (None, 2, 2), (1, 2, 1)],
)
def test_terms_times_threads_stay_within_the_usable_cpus(monkeypatch, n_jobs, context, threads):
    monkeypatch.setattr(_resources, "usable_cpu_count", lambda: 4)
    monkeypatch.setattr(engine_placement, "MatrixFreeOperator", _Recorder)
    monkeypatch.setattr(_Recorder, "threads", [])
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(90, 2)), np.repeat([0, 1, 2], 30)
    kw = dict(solver="slq", operator="matrix_free", n_probes=4, n_deflate=2, random_state=0)
    # threads, so the recorder sees every term; each is one joblib task
    with joblib.parallel_config(backend="threading", n_jobs=context):
        diffusion_spectral_mutual_information(X, y, n_repeats=2, n_jobs=n_jobs, **kw)
        assert _Recorder.threads == [threads] * 9
        _Recorder.threads.clear()
        diffusion_spectral_entropy(X, max_samples=40, n_subsamples=3, n_jobs=n_jobs, **kw)
        assert _Recorder.threads == [threads] * 3


# --- n_jobs ---------------------------------------------------------------------

_X = np.random.default_rng(1).normal(size=(40, 3))
_Y = np.repeat([0, 1], 20)
_CALLS = {
    "function": lambda n_jobs: diffusion_spectral_entropy(_X, n_jobs=n_jobs),
    "estimator": lambda n_jobs: DiffusionSpectralEntropy(n_jobs=n_jobs).fit(_X),
    "scorer": lambda n_jobs: make_dse_scorer(n_jobs=n_jobs),
    "mi function": lambda n_jobs: diffusion_spectral_mutual_information(_X, _Y, n_jobs=n_jobs),
    "mi estimator": lambda n_jobs: DiffusionSpectralMI(n_jobs=n_jobs).fit(_X, _Y),
    "mi scorer": lambda n_jobs: make_dsmi_scorer(n_jobs=n_jobs),
}


@pytest.mark.parametrize("call", _CALLS.values(), ids=_CALLS.keys())
@pytest.mark.parametrize(
    "value, exc, message",
    [
        (0, ValueError, r"'n_jobs' parameter of .* Got 0 instead"),
        (1.5, TypeError, r"'n_jobs' parameter of .* Got 1.5 instead"),
        ("all", TypeError, r"'n_jobs' parameter of .* Got 'all' instead"),
        (True, TypeError, r"'n_jobs' parameter of .* Got True instead"),
    ],
)
def test_bad_n_jobs_is_refused_naming_it(call, value, exc, message):
    with pytest.raises(exc, match=message):
        call(value)


def test_n_jobs_is_a_parameter_of_every_entry_point():
    for fn in ENTROPY_ENTRY_POINTS:
        assert inspect.signature(fn).parameters["n_jobs"].default is None, fn
    est = DiffusionSpectralEntropy(n_jobs=2)
    assert est.get_params()["n_jobs"] == 2
    assert est.set_params(n_jobs=-1).n_jobs == -1


# The matrix-free product pins BLAS to one thread and sums in float64: the
# thread count changes only the float64 order in which per-thread partial
# sums are added (relative 1e-16 per product, measured identical to the last
# bit here). 1e-9 bits leaves room for that through slq, and is far below
# float32 rounding (1.8e-7 bits between 1 and 2 threads when BLAS ran the
# serial path's float32 products on its own threads).
TOL = 1e-9


def test_matrix_free_product_independent_of_thread_count():
    rng = np.random.default_rng(0)
    X, V = rng.normal(size=(2500, 6)), rng.normal(size=(2500, 3))
    ref = MatrixFreeOperator(X, 1.5, block_rows=256, n_threads=1).matmat(V)
    for n_threads in (2, 3):
        out = MatrixFreeOperator(X, 1.5, block_rows=256, n_threads=n_threads).matmat(V)
        np.testing.assert_allclose(out, ref, rtol=1e-12, atol=0)


def test_dse_independent_of_n_jobs():
    X = np.random.default_rng(0).normal(size=(400, 5))
    kw = dict(solver="slq", operator="matrix_free", n_probes=8, n_deflate=8, random_state=0)
    ref = diffusion_spectral_entropy(X, n_jobs=1, **kw)
    for n_jobs in (2, -1, None):
        assert abs(diffusion_spectral_entropy(X, n_jobs=n_jobs, **kw) - ref) < TOL
    # an ensemble of subsamples over two worker processes
    Xl = np.random.default_rng(1).normal(size=(1200, 4))
    ens = dict(max_samples=200, n_subsamples=3, random_state=0)
    serial = DiffusionSpectralEntropy(n_jobs=1, **ens).fit(Xl)
    parallel = DiffusionSpectralEntropy(n_jobs=2, **ens).fit(Xl)
    assert abs(parallel.entropy_ - serial.entropy_) < TOL
    assert abs(parallel.entropy_std_ - serial.entropy_std_) < TOL


def test_dsmi_independent_of_n_jobs():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 150)
    X = rng.normal(size=(300, 3)) + 2.0 * y[:, None]
    kw = dict(solver="slq", operator="matrix_free", n_repeats=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        serial = diffusion_spectral_mutual_information(X, y, n_jobs=1, **kw)
        parallel = diffusion_spectral_mutual_information(X, y, n_jobs=2, **kw)
    assert abs(parallel - serial) < TOL


def test_concurrent_products_leave_blas_threads_as_they_were():
    # products in joblib threads each pinned BLAS to one thread and restored it;
    # one restoring the other's pin used to leave BLAS on one thread for good
    from threadpoolctl import threadpool_info

    before = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(300, 2)), np.repeat([0, 1, 2], 100)
    kw = dict(solver="slq", operator="matrix_free", n_repeats=2, n_probes=4, random_state=0)
    for _ in range(2):
        with joblib.parallel_config(backend="threading", n_jobs=2):
            diffusion_spectral_mutual_information(X, y, **kw)
        assert [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"] == before


def test_memory_refused_before_allocating():
    # 200000 x 200000 float64 is 298 GiB: refused at once, nothing allocated.
    X = np.random.default_rng(0).normal(size=(200_000, 1))
    with pytest.raises(InsufficientMemoryError, match="max_samples"):
        diffusion_spectral_entropy(X, max_samples=None, solver="exact")


def test_memory_refusal_uses_available_memory(monkeypatch):
    monkeypatch.setattr(engine_resources, "available_memory_bytes", lambda: 50_000)
    with pytest.raises(InsufficientMemoryError, match=r"max_samples=\d+"):
        diffusion_spectral_entropy(X_OK.repeat(10, axis=0))
    with pytest.raises(InsufficientMemoryError):
        diffusion_spectral_mutual_information(X_OK.repeat(10, axis=0), np.repeat(Y_OK, 10))
    # Small enough still runs.
    assert diffusion_spectral_entropy(X_OK) > 0
