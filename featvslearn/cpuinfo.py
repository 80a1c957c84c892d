"""The one reader of /proc/cpuinfo: the CPU's model name and feature flags.

Imports nothing from featvslearn, so both ``device`` (precision choice) and ``measure``
(environment) can use it without an import cycle.
"""

from __future__ import annotations

import platform

CPUINFO_PATH = "/proc/cpuinfo"


def cpu_info(path: str = CPUINFO_PATH) -> dict[str, str]:
    """The fields of the first processor in ``path`` (``model name``, ``flags``, …) as text.

    Keys and values are stripped; an empty dict where the file is missing or unreadable
    (macOS, Windows, some sandboxes). Every processor of a machine is assumed alike.
    """
    fields: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    if fields:
                        break  # end of the first processor's block
                    continue
                key, sep, value = line.partition(":")
                if sep:
                    fields.setdefault(key.strip(), value.strip())
    except OSError:
        return {}
    return fields


def cpu_model_name(path: str = CPUINFO_PATH) -> str:
    """The CPU's model name from ``path``, else what the platform module says."""
    return cpu_info(path).get("model name") or platform.processor() or platform.machine()


def cpu_flags(path: str = CPUINFO_PATH) -> frozenset[str]:
    """The CPU's feature flags (``avx512_bf16``, ``amx_bf16``, …); empty where unknown."""
    return frozenset(cpu_info(path).get("flags", "").split())
