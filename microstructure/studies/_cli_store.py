"""What ``assb generate`` / ``assb demo`` / ``assb import`` do with a structure: build it and
write its store, with the command line's errors."""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import typer

from ._cli_checks import fail, memory_fail
from ._format import generation_summary
from ._text import one_line

__all__ = ["generate_and_save", "save_store"]


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
