"""`.ci/min-versions.txt` (what `make test-min` installs) is the lower bounds of pyproject.toml.

A bound raised in one file and not the other would leave `make test-min` testing versions the
package no longer claims, or claiming versions no run has tested.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def _lower_bounds() -> dict[str, Version]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = [*project["dependencies"], *project["optional-dependencies"]["test"],
            *project["optional-dependencies"]["dist"]]
    bounds: dict[str, Version] = {}
    for text in reqs:
        req = Requirement(text)
        lows = [Version(s.version) for s in req.specifier if s.operator == ">="]
        assert len(lows) == 1, f"{text!r}: one '>=' lower bound expected"
        bounds[canonicalize_name(req.name)] = lows[0]
    return bounds


def _pinned() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in (ROOT / ".ci" / "min-versions.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"{line!r}: NAME==VERSION expected"
            pins[canonicalize_name(name)] = Version(version)
    return pins


def test_min_versions_are_the_lower_bounds_of_pyproject():
    bounds, pins = _lower_bounds(), _pinned()
    # ruff is the linter make test runs, not a library the code or the tests import
    bounds.pop("ruff")
    assert set(pins) == set(bounds), (set(pins) ^ set(bounds))
    differ = {n: (str(bounds[n]), str(pins[n])) for n in bounds if bounds[n] != pins[n]}
    assert not differ, f"pyproject bound vs .ci/min-versions.txt: {differ}"
