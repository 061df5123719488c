"""Shared helpers for the benchmark scripts: medians of repeats and peak memory."""

from __future__ import annotations

import gc
import platform
import statistics
import time
import tracemalloc


def median_time(fn, repeats: int = 3) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls, in seconds."""
    times = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_bytes(fn) -> int:
    """Peak memory that ``fn()`` allocates through Python and NumPy (tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def machine() -> str:
    import os

    import numpy  # noqa: F401  (loads the BLAS that threadpoolctl reports)

    try:
        from threadpoolctl import threadpool_info

        blas = ", ".join(
            f"{i['internal_api']} {i.get('architecture', '')}" for i in threadpool_info()
        )
    except Exception:  # threadpoolctl is optional here
        blas = "unknown BLAS"
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {blas}"


def table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    fmt = "| " + " | ".join(f"{{:>{w}}}" for w in widths) + " |"
    lines = [fmt.format(*header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += [fmt.format(*r) for r in rows]
    return "\n".join(lines)
