"""What this process may use: memory and CPUs, as its container allows.

A container, a SLURM job or a Dask worker is limited by its control group
(cgroup), not by the machine: ``/proc/meminfo`` and ``os.cpu_count()``
describe the machine. Memory is read from both and the smaller wins (a
process that allocates past its cgroup's ``memory.max`` is killed, not
refused); CPUs are counted as joblib counts them (affinity, cgroup quota),
plus the quota of the process's own cgroup, which joblib does not read.

Every file is read under :data:`ROOT`, so tests point it at a faked tree.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import joblib
import numpy as np

#: Directory under which ``proc/`` and ``sys/fs/cgroup/`` are read (tests fake it).
ROOT = "/"

#: cgroup v1 writes a page-aligned ``2**63 - 1`` for "no limit"; above this there is none.
_NO_LIMIT = 2**60

# (controller in /proc/self/cgroup, its mount under sys/fs/cgroup, limit, usage,
#  reclaimable page cache in memory.stat); "" is cgroup v2's unified hierarchy.
_MEMORY_FILES = (
    ("", "", "memory.max", "memory.current", "inactive_file"),
    ("memory", "memory", "memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file"),
)


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _read_int(path: Path) -> int | None:
    """An integer file; None when missing, unreadable, ``max`` or ``-1`` (no limit)."""
    try:
        value = int(_read(path) or "")
    except ValueError:  # "max", empty or garbage
        return None
    return value if 0 <= value < _NO_LIMIT else None


def _cgroup_dirs(root: Path, controller: str, mount: str) -> list[Path]:
    """The process's cgroup directory of ``controller`` and its ancestors up to the mount.

    The path comes from ``/proc/self/cgroup`` (``0::/path`` for v2,
    ``N:memory:/path`` for v1). Inside a container without a cgroup
    namespace the path names the host's hierarchy, which is not mounted
    there: then the mount's root is the container's own cgroup.
    """
    base = root / "sys/fs/cgroup" / mount
    text = _read(root / "proc/self/cgroup") or ""
    path = None
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, names, where = parts
        if (controller in names.split(",")) if controller else (hierarchy, names) == ("0", ""):
            path = where.strip("/")
            break
    own = base / path if path else base
    if not own.is_dir():
        own = base
    dirs = [own]
    while dirs[-1] != base and base in dirs[-1].parents:
        dirs.append(dirs[-1].parent)
    return dirs


def _meminfo_bytes(root: Path) -> int | None:
    text = _read(root / "proc/meminfo") or ""
    for line in text.splitlines():
        fields = line.split()
        if fields[:1] == ["MemAvailable:"] and len(fields) > 1 and fields[1].isdigit():
            return int(fields[1]) * 1024
    if root != Path("/"):
        return None
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _stat_value(path: Path, key: str) -> int:
    for line in (_read(path) or "").splitlines():
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return 0


def cgroup_memory_bytes(root: str | os.PathLike | None = None) -> int | None:
    """Bytes the process's cgroup (v2 or v1) lets it allocate, or None without a limit.

    At each level from the process's cgroup up to the mount's root that
    sets a limit: the limit minus the usage, plus the inactive page cache
    the kernel reclaims before it kills (``memory.stat``); the smallest
    wins. ``max`` (v2) and v1's huge "unlimited" value mean no limit.

    Examples
    --------
    >>> from skdse._engine.resources import cgroup_memory_bytes
    >>> room = cgroup_memory_bytes()
    >>> room is None or room >= 0
    True
    """
    root = Path(ROOT if root is None else root)
    room = None
    for controller, mount, limit_file, usage_file, cache_key in _MEMORY_FILES:
        for d in _cgroup_dirs(root, controller, mount):
            limit = _read_int(d / limit_file)
            usage = _read_int(d / usage_file)
            if limit is None or usage is None:
                continue
            free = max(0, limit - usage + _stat_value(d / "memory.stat", cache_key))
            room = free if room is None else min(room, free)
    return room


def available_memory_bytes(root: str | os.PathLike | None = None) -> int | None:
    """Memory this process can still allocate, or None if it cannot tell.

    The smaller of the machine's ``MemAvailable`` (``/proc/meminfo``) and
    the room left under the process's cgroup limit
    (:func:`cgroup_memory_bytes`), so that a container, a SLURM job or a
    Dask worker with a memory limit is refused up front instead of killed.

    Parameters
    ----------
    root : str or path, default=None
        Where ``proc/`` and ``sys/`` are read; None uses :data:`ROOT` (``/``).

    Examples
    --------
    >>> from skdse._engine.resources import available_memory_bytes
    >>> have = available_memory_bytes()
    >>> have is None or have >= 0
    True
    """
    root = Path(ROOT if root is None else root)
    known = [b for b in (_meminfo_bytes(root), cgroup_memory_bytes(root)) if b is not None]
    return min(known) if known else None


def cgroup_cpu_limit(root: str | os.PathLike | None = None) -> int | None:
    """CPUs the quota of the process's cgroup and its ancestors allows, or None.

    ``ceil(quota / period)`` from v2 ``cpu.max`` or v1
    ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``, the smallest on the way
    up to the mount's root.

    Examples
    --------
    >>> from skdse._engine.resources import cgroup_cpu_limit
    >>> n = cgroup_cpu_limit()
    >>> n is None or n >= 1
    True
    """
    root = Path(ROOT if root is None else root)
    limits = []
    for d in _cgroup_dirs(root, "", ""):
        fields = (_read(d / "cpu.max") or "").split()
        if len(fields) == 2 and fields[0].isdigit() and fields[1].isdigit():
            limits.append((int(fields[0]), int(fields[1])))
    for d in _cgroup_dirs(root, "cpu", "cpu"):
        quota, period = _read_int(d / "cpu.cfs_quota_us"), _read_int(d / "cpu.cfs_period_us")
        if quota and period:
            limits.append((quota, period))
    cpus = [max(1, math.ceil(q / p)) for q, p in limits if q > 0 and p > 0]
    return min(cpus) if cpus else None


def usable_cpu_count() -> int:
    """CPUs this process may use (at least 1).

    :func:`joblib.cpu_count` (loky's count: ``os.cpu_count()``, the CPU
    affinity, the cgroup quota at the cgroup mount's root and the
    ``LOKY_MAX_CPU_COUNT`` environment variable), lowered to the quota of
    the process's own cgroup (:func:`cgroup_cpu_limit`): joblib reads only
    the mount's root, which misses a nested cgroup such as a systemd unit's
    ``CPUQuota`` or a job step's without a cgroup namespace.

    Examples
    --------
    >>> import os
    >>> from skdse._engine.resources import usable_cpu_count
    >>> 1 <= usable_cpu_count() <= (os.cpu_count() or 1)
    True
    """
    n = joblib.cpu_count()
    quota = cgroup_cpu_limit()
    return max(1, n if quota is None else min(n, quota))


def cpu_budget(n_jobs: int | None) -> int:
    """CPUs ``n_jobs`` lets one computation use, in scikit-learn's meaning of n_jobs.

    None and -1: every usable CPU (:func:`usable_cpu_count`), like BLAS
    threads; ``n_jobs > 0``: that many; below -1: ``usable + 1 + n_jobs``
    (at least 1), as in joblib.

    Examples
    --------
    >>> from skdse._engine.resources import cpu_budget, usable_cpu_count
    >>> cpu_budget(3), cpu_budget(-1) == usable_cpu_count()
    (3, True)
    """
    if n_jobs is None:
        return usable_cpu_count()
    if n_jobs < 0:
        return max(1, usable_cpu_count() + 1 + n_jobs)
    return int(n_jobs)


def threads_per_task(n_jobs: int | None, n_tasks: int) -> int:
    """Threads of each of ``n_tasks`` tasks that joblib runs with ``n_jobs`` workers.

    The workers running at once (joblib's :func:`~joblib.effective_n_jobs`,
    which honours a ``joblib.parallel_config`` context, at most
    ``n_tasks``) share :func:`cpu_budget`: workers x threads never exceed it
    unless the workers alone do.

    Examples
    --------
    >>> from skdse._engine.resources import threads_per_task
    >>> threads_per_task(4, 10), threads_per_task(4, 2), threads_per_task(1, 10)
    (1, 2, 1)
    """
    workers = max(1, min(joblib.effective_n_jobs(n_jobs), n_tasks))
    return max(1, cpu_budget(n_jobs) // workers)


class InsufficientMemoryError(MemoryError):
    """Raised before allocating an operator that cannot fit in memory.

    Examples
    --------
    >>> from skdse import InsufficientMemoryError
    >>> issubclass(InsufficientMemoryError, MemoryError)
    True
    """


def check_memory(need: int, what: str, advice: str, available=None) -> None:
    """Refuse, before allocating, ``need`` bytes that the machine does not have.

    ``available`` is the free device memory for GPU arrays (None: host memory).
    """
    where = "memory" if available is None else "device memory"
    have = available if available is not None else available_memory_bytes()
    if have is not None and need > have:
        raise InsufficientMemoryError(
            f"{what} needs about {need / 2**30:.1f} GiB, but only {have / 2**30:.1f} GiB "
            f"of {where} is available. {advice}"
        )


def check_dense_fits(n: int, *, itemsize: int = 8, n_arrays: float = 1.1, available=None) -> None:
    """Refuse, before allocating, an ``n x n`` operator that cannot fit in memory.

    ``n_arrays`` counts the N x N arrays alive at the peak (the operator plus
    the eigensolver's workspace). ``available`` is the free device memory
    for GPU arrays (None: ask the operating system).
    """
    where = "memory" if available is None else "device memory"
    have = available if available is not None else available_memory_bytes()
    if have is None:
        return
    need = int(n_arrays * itemsize * n * n)
    if need > have:
        fits = max(2, int(0.8 * np.sqrt(have / (itemsize * n_arrays))))
        extra = " or dtype='float32'" if itemsize == 8 else ""
        raise InsufficientMemoryError(
            f"The exact solver's dense {n} x {n} operator needs about {need / 2**30:.1f} GiB, "
            f"but only {have / 2**30:.1f} GiB of {where} is available. Pass solver='slq' "
            f"(matrix-free above this size){extra}, or a smaller max_samples (for example "
            f"max_samples={fits}) to use a uniform subsample."
        )
