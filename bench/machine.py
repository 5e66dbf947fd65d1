"""What a benchmark ran on: CPU model, cores, memory and OS, for the results files."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo, else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def memory_gib() -> float:
    """Physical memory in GiB."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


def machine(*, release: bool = False) -> str:
    """`model, N cores, M GiB RAM, OS` (`OS release` with `release=True`)."""
    system = f"{platform.system()} {platform.release()}" if release else platform.system()
    return f"{cpu_model()}, {os.cpu_count()} cores, {memory_gib():.0f} GiB RAM, {system}"
