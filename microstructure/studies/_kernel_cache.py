"""Whether numba's on-disk kernel cache is cold: the CLI's "compiling kernels" notice."""

from __future__ import annotations

import functools

__all__ = ["GENERATE_KERNELS", "REPORT_KERNELS", "cached_kernel_modules", "compile_notice",
           "kernel_modules", "kernels_cold"]

#: The kernel modules ``assb generate`` runs, as name prefixes: the generator's own and the
#: labeling its pressed SE fill uses (not the transport or utilization solvers).
GENERATE_KERNELS = ("microstructure.", "solvers.labeling.")
#: ``assb report``: its slices regenerate a structure and take its CAM utilization.
REPORT_KERNELS = (*GENERATE_KERNELS, "solvers.utilization.")

#: How a module asks numba for an on-disk cache: the cache option of njit, or an options dict.
_CACHE_PATTERN = r"jit\([^)]*cache=True|[\"']cache[\"']\s*:\s*True"


@functools.lru_cache(maxsize=1)
def cached_kernel_modules() -> tuple[str, ...]:
    """Modules of this project that compile numba kernels with ``cache=True`` (found in the
    sources, so a new or moved kernel module is watched without a list to keep up)."""
    import re
    from pathlib import Path

    import microstructure
    import solvers

    found = []
    for pkg in (microstructure, solvers):
        root = Path(pkg.__file__).parent
        for p in sorted(root.rglob("*.py")):
            if re.search(_CACHE_PATTERN, p.read_text(encoding="utf-8")):
                rel = p.relative_to(root.parent).with_suffix("").parts
                found.append(".".join(rel))
    return tuple(found)


def kernel_modules(prefixes: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """The modules of :func:`cached_kernel_modules` whose names start with one of
    ``prefixes`` (None: all of them).

    >>> from microstructure.studies._kernel_cache import GENERATE_KERNELS, kernel_modules
    >>> mods = kernel_modules(GENERATE_KERNELS)
    >>> "microstructure._pressing_cpu" in mods, any(m.startswith("solvers.transport") for m in mods)
    (True, False)
    """
    mods = cached_kernel_modules()
    return mods if prefixes is None else tuple(m for m in mods if m.startswith(prefixes))


def kernels_cold(modules: tuple[str, ...] | None = None) -> bool:
    """Whether numba will compile kernels in this process: a module none of whose cached
    kernels has a usable entry in numba's on-disk cache (first run, or its source changed).

    numba's cache index (per kernel, stamped with the source file's mtime and size) is read,
    nothing is compiled.  If the index cannot be read (another numba version), say yes.
    """
    import importlib

    try:
        from numba.core.registry import CPUDispatcher
    except ImportError:  # pragma: no cover - numba is a dependency
        return False
    try:
        for name in cached_kernel_modules() if modules is None else modules:
            try:
                mod = importlib.import_module(name)
            except ModuleNotFoundError:  # moved; tests keep the list in step with the tree
                continue
            cached = [v for v in vars(mod).values() if isinstance(v, CPUDispatcher)
                      and hasattr(getattr(v, "_cache", None), "_cache_file")]
            if cached and not any(v._cache._cache_file._load_index() for v in cached):
                return True
    except Exception:  # noqa: BLE001 - numba internals changed: assume a compile
        return True
    return False


_NOTICE = "compiling kernels (first run only, ~20-40 s; cached for later runs)"
_noticed = False


def compile_notice(*, quiet: bool, only: tuple[str, ...] | None = None) -> None:
    """One line on stderr before the first compute of the process when the cache is cold.

    ``only``: the name prefixes of the kernel modules the command runs (``GENERATE_KERNELS``
    for ``assb generate``, ``REPORT_KERNELS`` for ``assb report``); None: every module with
    cached kernels (analyze, sweep, demo, resolution).  A command is not told
    about kernels it never compiles.
    """
    import typer

    global _noticed
    if quiet or _noticed:
        return
    _noticed = True
    if kernels_cold(kernel_modules(only)):
        typer.echo(_NOTICE, err=True)
