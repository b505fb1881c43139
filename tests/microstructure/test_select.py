"""rank_compositions: the points of a sweep against θ / ionic-τ targets, ranked by CAM."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from microstructure.studies import rank_compositions
from microstructure.studies.report import add_derived


def _rows():
    """Four points x 2 seeds: a (50 % CAM, safe), b (55 %, mean meets 0.95 but one seed does
    not), c (60 %, ionic network blocked in one seed), d (65 %, every seed failed)."""
    return pd.DataFrame({
        "point_id": list("aabbccdd"), "seed": [0, 1] * 4,
        "status": ["ok"] * 6 + ["failed"] * 2,
        "param:phases.cam.fraction": [70, 70, 75, 75, 80, 80, 85, 85],
        "target_cam": [0.50, 0.50, 0.55, 0.55, 0.60, 0.60, 0.65, 0.65],
        "util_strict": [0.99, 0.98, 0.97, 0.94, 0.99, 0.99, np.nan, np.nan],
        "util_relay": [1.0, 1.0, 0.99, 0.98, 1.0, 1.0, np.nan, np.nan],
        "ionic_tau": [2.0, 2.2, 3.0, 3.4, 4.0, math.inf, np.nan, np.nan],
        "cam_wt_frac": [0.7, 0.7, 0.75, 0.75, 0.8, 0.8, 0.85, 0.85],
        "areal_loading_mg_cm2": [10.0, 10.0, 11.0, 11.0, 12.0, 12.0, 13.0, 13.0],
    })


def test_the_most_cam_that_meets_theta_is_first():
    r = rank_compositions(_rows(), min_utilization=0.95)
    assert r["point_id"].tolist() == ["c", "b", "a", "d"]    # meeting ones by CAM, then the rest
    assert r["rank"].tolist() == [1, 2, 3, 4]
    assert r["meets"].tolist() == [True, True, True, False]
    b = r.set_index("point_id").loc["b"]
    assert b["theta_mean"] == pytest.approx(0.955) and b["theta_min"] == pytest.approx(0.94)
    assert b["theta_sd"] == pytest.approx(np.std([0.97, 0.94], ddof=1))
    assert b["objective_mean"] == pytest.approx(0.55)
    d = r.set_index("point_id").loc["d"]
    assert d["seeds_ok"] == 0 and d["seed_rows"] == 2 and d["why_not"] == "no ok seed"
    rows = _rows().assign(error=[""] * 6 + ["SpecError: phases.cam.fraction: too much"] * 2)
    d = rank_compositions(rows, min_utilization=0.95).set_index("point_id").loc["d"]
    assert d["why_not"] == "no ok seed (SpecError: phases.cam.fraction: too much)"
    assert r["param:phases.cam.fraction"].tolist() == [80, 75, 70, 85]
    assert r.attrs["targets"] == "theta (strict) >= 0.95, mean over seeds"


def test_every_seed_must_meet_with_all_seeds():
    r = rank_compositions(_rows(), min_utilization=0.95, all_seeds=True).set_index("point_id")
    assert not r.loc["b", "meets"]
    assert r.loc["b", "why_not"] == "lowest seed (strict) 0.9400 < 0.95"
    assert r.loc["c", "meets"] and r.loc["a", "meets"]


def test_ionic_tau_limit_and_a_blocked_network():
    r = rank_compositions(_rows(), min_utilization=0.95, max_ionic_tau=3.1)
    assert r["point_id"].tolist()[:1] == ["a"]                # b's mean tau 3.2, c blocked
    why = r.set_index("point_id")["why_not"]
    assert why["b"] == "ionic tau 3.2 > 3.1"
    assert why["c"] == "ionic network blocked in 1 of 2 seeds"
    c = r.set_index("point_id").loc["c"]
    assert c["ionic_tau_mean"] == 4.0 and c["ionic_blocked_seeds"] == 1   # finite seeds only
    seeds = rank_compositions(_rows(), min_utilization=0.9, max_ionic_tau=3.3,
                              all_seeds=True).set_index("point_id")
    assert seeds.loc["b", "why_not"] == "highest seed's ionic tau 3.4 > 3.3"


def test_the_columns_say_what_they_hold_and_the_targets():
    """Which θ, which objective and which way, rows found, blocked seeds; the targets in every
    row (a CSV reader has them without the page)."""
    r = rank_compositions(_rows(), min_utilization=0.95, rule="cam_relay", max_ionic_tau=4.5)
    assert list(r.columns) == [
        "rank", "point_id", "param:phases.cam.fraction", "seeds_ok", "seed_rows", "theta_rule",
        "theta_mean", "theta_sd", "theta_min", "ionic_tau_mean", "ionic_blocked_seeds",
        "objective_column", "objective_goal", "objective_mean", "meets", "why_not",
        "min_utilization", "max_ionic_tau", "targets_on"]
    first = r.iloc[0]
    assert first[["point_id", "theta_rule", "objective_column", "objective_goal",
                  "min_utilization", "max_ionic_tau", "targets_on"]].tolist() == [
        "b", "cam_relay", "target_cam", "maximize", 0.95, 4.5, "mean over seeds"]
    assert first["theta_mean"] == pytest.approx(0.985)           # the relay θ, not the strict
    r = rank_compositions(_rows(), all_seeds=True)
    assert r["max_ionic_tau"].isna().all() and set(r["targets_on"]) == {"every seed"}


def test_minimize_ranks_the_lowest_first():
    """--objective ionic_tau ranks the highest τ first unless asked to minimize."""
    most = rank_compositions(_rows(), min_utilization=0.9, objective="ionic_tau")
    assert most["point_id"].tolist() == ["c", "b", "a", "d"]     # 4.0, 3.2, 2.1
    least = rank_compositions(_rows(), min_utilization=0.9, objective="ionic_tau",
                              minimize=True)
    assert least["point_id"].tolist() == ["a", "b", "c", "d"]    # d meets nothing: last
    assert least["objective_mean"].tolist()[:3] == pytest.approx([2.1, 3.2, 4.0])
    assert set(least["objective_goal"]) == {"minimize"}


def test_the_relay_rule_and_other_objectives():
    df = add_derived(_rows())
    r = rank_compositions(df, min_utilization=0.99, rule="cam_relay",
                          objective="areal_capacity_mAh_cm2_relay")
    assert r["point_id"].tolist()[:3] == ["c", "a", "b"]      # b: relay theta 0.985 < 0.99
    assert r.set_index("point_id").loc["c", "objective_mean"] == pytest.approx(0.2 * 12.0)
    r = rank_compositions(df, min_utilization=0.9, objective="areal_loading_mg_cm2")
    assert r["objective_mean"].tolist()[:3] == [12.0, 11.0, 10.0]


@pytest.mark.parametrize("kw,exc,match", [
    ({"min_utilization": 1.2}, ValueError, r"min_utilization must be a number in \[0, 1\]"),
    ({"min_utilization": -0.1}, ValueError, "min_utilization"),
    ({"min_utilization": math.nan}, ValueError, "min_utilization"),
    ({"min_utilization": True}, TypeError, "min_utilization"),
    ({"min_utilization": "0.9"}, TypeError, r"min_utilization must be a number .*\(str\)"),
    ({"max_ionic_tau": 0.5}, ValueError, "max_ionic_tau must be a finite number >= 1"),
    ({"max_ionic_tau": -1.0}, ValueError, "max_ionic_tau must be a finite number >= 1"),
    ({"max_ionic_tau": math.inf}, ValueError, "max_ionic_tau"),
    ({"all_seeds": "no"}, TypeError, "all_seeds must be a bool"),
    ({"minimize": 1}, TypeError, "minimize must be a bool"),
    ({"rule": "relay"}, ValueError, "rule must be one of"),
    ({"objective": "loading"}, ValueError, "no column 'loading'; objective"),
    ({"objective": "status"}, ValueError, "objective must be a numeric column"),
])
def test_bad_targets_are_named(kw, exc, match):
    with pytest.raises(exc, match=match):
        rank_compositions(_rows(), **kw)


def test_a_table_without_transport_cannot_take_a_tau_limit():
    df = _rows().drop(columns="ionic_tau")
    assert rank_compositions(df)["meets"].sum() == 3
    with pytest.raises(ValueError, match="no column 'ionic_tau'"):
        rank_compositions(df, max_ionic_tau=3.0)
    unsolved = _rows().assign(ionic_tau=np.nan)                  # a sweep with transport off
    r = rank_compositions(unsolved, max_ionic_tau=3.0).set_index("point_id")
    assert not r["meets"].any()
    assert r.loc["a", "why_not"] == "ionic tau not computed (a sweep without transport?)"
