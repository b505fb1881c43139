"""Checks of the ``assb`` command line's input, made before any heavy work, and its one-line
errors: ``error: ...`` on stderr and exit code 2 (a user error) or 1 (the work failed)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NoReturn

import typer

from ._text import one_line

__all__ = ["check_device", "check_dir_out", "check_out", "fail", "memory_fail",
           "not_text", "read_spec", "read_sweep"]


def fail(msg: str, code: int = 2) -> NoReturn:
    """``error: msg`` on stderr, then exit with ``code``."""
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code)


def check_device(device: str) -> str:
    from solvers.device import DEVICES, cuda_simulated, gpu_available

    if device not in DEVICES:
        fail(f"--device must be 'cpu' or 'cuda', got {device!r}")
    if device == "cuda" and not (cuda_simulated() or gpu_available()):
        fail("--device cuda: no usable CUDA GPU (needs a GPU and "
              "pip install 'assb-microstructure[gpu]'); use --device cpu")
    return device


def check_out(out: Path) -> Path:
    """A store can be written at ``out`` (checked before any work): not a file, not below a
    file, not a non-empty directory that is not an assb store, in a writable directory."""
    from microstructure._zarr_store import check_store_target

    try:
        check_store_target(out, overwrite=True)
    except OSError as exc:
        msg = one_line(exc)
        fail(f"--out {msg}" if msg.startswith(str(out)) else f"--out {out}: {msg}")
    return out


def check_dir_out(out: Path) -> Path:
    """``out`` is, or can be created as, a directory (checked before any work)."""
    if out.exists() and not out.is_dir():
        fail(f"--out {out} exists and is not a directory")
    parent = out
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        fail(f"--out {out}: cannot create it, {parent} is a file, not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        fail(f"--out {out}: {parent} is not writable")
    return out


def memory_fail(exc: MemoryError) -> NoReturn:
    """An estimate over the limit is a user error (2); a real allocation failure is not (1)."""
    from solvers.memory import InsufficientMemoryError

    if isinstance(exc, InsufficientMemoryError):
        fail(one_line(exc))
    fail(f"out of memory: {one_line(exc) or type(exc).__name__}", code=1)


def not_text(path: Path, exc: UnicodeDecodeError) -> str:
    return (f"{path} is not a TOML text file: byte 0x{exc.object[exc.start]:02x} at offset "
            f"{exc.start} is not UTF-8")


def read_spec(path: Path) -> Any:
    from microstructure import SpecError, load_spec

    try:
        return load_spec(path)
    except SpecError as exc:
        typer.echo(f"error: {exc}", err=True)  # one line per bad field
        raise typer.Exit(2) from None
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        fail(one_line(exc))
    except UnicodeDecodeError as exc:
        fail(not_text(path, exc))


def read_sweep(path: Path) -> Any:
    from ._sweep_spec import SweepError, load_sweep

    try:
        return load_sweep(path)
    except (SweepError, FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        fail(one_line(exc))
    except UnicodeDecodeError as exc:
        fail(not_text(path, exc))
