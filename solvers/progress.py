"""Progress bars of the long steps (generation, transport solves, sweeps, imports).

:func:`progress_bar` is ``tqdm.auto.tqdm`` -- a widget in Jupyter, text on a terminal --
except where Jupyter lacks ipywidgets: there ``tqdm.auto`` warns ("IProgress not found") every
time and falls back to text, so the text bar is used at once, without the warning.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from typing import Any

__all__ = ["progress_bar"]


@cache
def _bar_class() -> Any:
    if importlib.util.find_spec("ipywidgets") is None:
        from tqdm.std import tqdm
    else:
        from tqdm.auto import tqdm
    return tqdm


def progress_bar(*args: Any, **kwargs: Any) -> Any:
    """A tqdm bar (the arguments of ``tqdm.tqdm``), as a widget where Jupyter can draw one.

    Examples
    --------
    >>> import io
    >>> from solvers.progress import progress_bar
    >>> with progress_bar(total=3, desc="steps", file=io.StringIO()) as bar:
    ...     bar.update(3)
    >>> bar.n, "steps" in bar.fp.getvalue()
    (3, True)
    """
    return _bar_class()(*args, **kwargs)
