"""Docstring examples of the public API run as a user copies them: in an empty namespace.

``--doctest-modules`` runs an example with its module's globals, so a name the example never
imports passes there and fails when pasted; and the suite ignores DeprecationWarning, so an
example through a deprecated path passes too.  Here neither is forgiven.
"""

from __future__ import annotations

import doctest
import warnings
from pathlib import Path

import pytest

from microstructure import GenerationReport, import_tiff
from microstructure.studies import load_sweep, rank_compositions
from microstructure.studies.report import add_derived, independent_axes
from solvers.memory import estimate_generate, estimate_sweep_point, format_bytes

ROOT = Path(__file__).resolve().parents[1]

EXAMPLES = [import_tiff, rank_compositions, load_sweep, add_derived, independent_axes,
            GenerationReport.to_dict, format_bytes, estimate_generate, estimate_sweep_point]


@pytest.mark.parametrize("obj", EXAMPLES, ids=lambda o: o.__qualname__)
def test_example_runs_in_an_empty_namespace(obj, monkeypatch):
    monkeypatch.chdir(ROOT)          # the examples name files from the repository's root
    tests = doctest.DocTestFinder(recurse=False).find(obj, obj.__qualname__, globs={})
    assert tests and tests[0].examples, f"{obj.__qualname__} has no example"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        for t in tests:
            runner.run(t, out=lambda s: pytest.fail(s))
    assert runner.failures == 0
