"""``solvers.progress``: a widget bar where Jupyter has ipywidgets, else a text bar at once
(``tqdm.auto`` would warn "IProgress not found" on every bar)."""

import importlib.util
import io

import tqdm.auto
import tqdm.std

from solvers import progress


def test_text_bar_without_ipywidgets(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ipywidgets" else real(name, *a))
    progress._bar_class.cache_clear()
    try:
        assert progress._bar_class() is tqdm.std.tqdm
        out = io.StringIO()
        with progress.progress_bar(total=2, desc="solve", file=out) as bar:  # warnings: errors
            bar.update(2)
        assert bar.n == 2 and "solve" in out.getvalue() and "2/2" in out.getvalue()
    finally:
        progress._bar_class.cache_clear()


def test_auto_bar_with_ipywidgets(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: object() if name == "ipywidgets" else real(name, *a))
    progress._bar_class.cache_clear()
    try:
        assert progress._bar_class() is tqdm.auto.tqdm
    finally:
        progress._bar_class.cache_clear()
