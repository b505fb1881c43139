"""What ``assb generate`` / ``analyze`` / ``demo`` / ``import`` do with a structure: build it
and write its store, or analyze a store into its attributes, with the command line's errors."""

from __future__ import annotations

import functools
import time
import warnings
from pathlib import Path
from typing import Any

import typer

from ._cli_checks import fail, memory_fail
from ._format import generation_summary
from ._kernel_cache import compile_notice
from ._text import one_line

__all__ = ["analyze_store", "generate_and_save", "save_store"]


def generate_and_save(spec: Any, out: Path, *, seed: int, device: str, spec_label: str,
                      progress: bool, echo_warnings: bool) -> dict[str, Any]:
    """Generate ``spec`` and write it to ``out``; the summary ``assb generate`` prints."""
    from microstructure import PackingError
    from microstructure import generate as _generate

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            m = _generate(spec, seed=seed, device=device, progress=progress)
        except PackingError as exc:
            fail(str(exc), code=1)
        except MemoryError as exc:  # an estimate over the limit (before any work): exit 2
            memory_fail(exc)
        except (ValueError, RuntimeError) as exc:  # device not usable, bad seed
            fail(one_line(exc))
    if echo_warnings:
        for w in caught:
            typer.echo(f"warning: {w.message}", err=True)
    t0 = time.perf_counter()
    save_store(m, out)
    t_save = time.perf_counter() - t0
    return generation_summary(m, store=out, spec_label=spec_label, save_seconds=t_save)


def save_store(m: Any, out: Path) -> None:
    """Write ``m`` to ``out``, or exit with the reason (nothing is replaced on failure)."""
    try:
        m.save(out)
    except (FileExistsError, NotADirectoryError, PermissionError) as exc:
        fail(f"--out {out}: {one_line(exc)}")
    except OSError as exc:  # a full disk: the temporary store is removed, out is unchanged
        fail(f"cannot write {out} (nothing was replaced): {one_line(exc)}", code=1)


def analyze_store(store: Path, *, device: str, transport: bool,
                  progress: bool = False, notice: bool = False,
                  wall_margin_um: float | None = None,
                  homogeneity_window_um: float | None = None,
                  in_plane: bool = False) -> dict[str, Any]:
    """Open ``store``, analyze it (``assb analyze``) and write the analysis into its
    attributes; a store that cannot be opened or written is an error naming it."""
    import solvers
    from microstructure import open as open_microstructure
    from microstructure._homogeneity import check_window
    from microstructure._zarr_store import update_store_attrs

    from ._analysis import analyze
    from ._text import jsonable

    try:
        m = open_microstructure(store)
    except (FileNotFoundError, ValueError) as exc:
        msg = one_line(exc)
        fail(msg if str(store) in msg else f"cannot open {store}: {msg}")
    except Exception as exc:  # noqa: BLE001 - anything zarr raises on a non-store
        fail(f"cannot open {store} as a microstructure store: {one_line(exc)}")
    try:
        check_window(homogeneity_window_um, float(m.voxel_size_um), "--homogeneity-window-um")
    except ValueError as exc:
        fail(str(exc))
    fn = solvers.transport_properties if transport else None
    if fn is not None and progress:
        fn = functools.partial(fn, progress=True)  # tqdm bars on stderr for the long solves
    if notice:
        compile_notice(quiet=False)
    try:
        analysis = {"store": str(store), **analyze(
            m, device=device, transport=fn or False, wall_margin_um=wall_margin_um,
            homogeneity_window_um=homogeneity_window_um, in_plane=in_plane)}
    except MemoryError as exc:  # an estimate over the limit (before any work): exit 2
        memory_fail(exc)
    try:
        update_store_attrs(store, {"analysis": jsonable(analysis)})
    except PermissionError as exc:
        fail(f"cannot write the analysis into {store} (read-only?): {one_line(exc)}")
    except OSError as exc:
        fail(f"cannot write the analysis into {store} (the store is unchanged): "
              f"{one_line(exc)}", code=1)
    return analysis
