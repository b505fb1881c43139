"""Static utilization on a contact graph: analytic chains and rules."""

import numpy as np
import pytest

from solvers import cam_utilization_graph


def _run(phase, pairs, cc, sep, vol=None, rule="strict", **kw):
    n = len(phase)
    tcc = np.zeros(n, bool)
    tcc[list(cc)] = True
    tsep = np.zeros(n, bool)
    tsep[list(sep)] = True
    return cam_utilization_graph(np.array(phase), np.array(pairs).reshape(-1, 2),
                                 touches_cc=tcc, touches_separator=tsep,
                                 volume=np.ones(n) if vol is None else np.array(vol), rule=rule,
                                 **kw)


def test_chain_cc_cam_cam_se_separator():
    # CAM0 (on the collector) - CAM1 - SE2 (at the separator)
    r = _run([1, 1, 2], [[0, 1], [1, 2]], cc=[0], sep=[2])
    assert r.static_utilization == 0.5 and r.n_electronic == 2 and r.n_ionic == 1
    assert r.active.tolist() == [False, True, False]
    assert _run([1, 1, 2], [[0, 1], [1, 2]], cc=[0], sep=[2],
                rule="cam_relay").static_utilization == 1.0


def test_cam_touching_the_separator_has_ionic_contact():
    # CAM0 (collector) - CAM1 (separator), no SE at all: the separator is a pure SE layer
    r = _run([1, 1], [[0, 1]], cc=[0], sep=[1])
    assert r.active.tolist() == [False, True]
    assert _run([1, 1], [[0, 1]], cc=[0], sep=[1], rule="cam_relay").static_utilization == 1.0
    assert _run([1, 1], [[0, 1]], cc=[0], sep=[1],
                separator_contact=False).static_utilization == 0.0
    with pytest.raises(TypeError, match="separator_contact must be a bool"):
        _run([1, 1], [[0, 1]], cc=[0], sep=[1], separator_contact=1)


def test_volume_weighting_and_by_count():
    r = _run([1, 1, 2], [[0, 1], [1, 2]], cc=[0], sep=[2], vol=[3.0, 1.0, 5.0])
    assert r.static_utilization == pytest.approx(0.25)
    assert r.static_utilization_by_count == 0.5


def test_carbon_bridges_electrons_but_not_ions():
    # CAM0 isolated from the collector except through carbon 3; SE 2 touches the separator;
    # SE 4 touches CAM 0 but is not connected to the separator
    phase = [1, 2, 2, 3, 2]
    pairs = [[0, 3], [0, 1], [1, 2], [0, 4]]
    assert _run(phase, pairs, cc=[3], sep=[2]).static_utilization == 1.0
    assert _run(phase, pairs, cc=[], sep=[2]).static_utilization == 0.0  # no electrons
    assert _run(phase, [[0, 3], [0, 4]], cc=[3], sep=[2]).static_utilization == 0.0
    # carbon does not conduct ions: SE - carbon - SE is not an ionic path
    assert _run([1, 2, 3, 2], [[0, 1], [1, 2], [2, 3]], cc=[0],
                sep=[3]).static_utilization == 0.0


def test_bad_input_named():
    with pytest.raises(ValueError, match="rule must be one of .*'strict'.*got 'x'"):
        _run([1], [], cc=[0], sep=[], rule="x")
    with pytest.raises(ValueError, match="pairs must be 0-based"):
        _run([1, 2], [[0, 2]], cc=[0], sep=[1])
    with pytest.raises(ValueError, match=r"volume must be \(2,\) numbers, one per particle"):
        _run([1, 2], [[0, 1]], cc=[0], sep=[1], vol=[1.0])


@pytest.mark.parametrize("phase, pairs, vol, error, match", [
    ([1, 1, 2], [[0, 0.9], [0.9, 2]], None, TypeError, "pairs must be an .m, 2. integer array"),
    ([1, 5, 2], [[0, 1], [1, 2]], None, ValueError, "phase holds codes .5.; a particle is"),
    ([1, 0, 2], [[0, 1], [1, 2]], None, ValueError, "phase holds codes .0."),
    ([1.0, 1, 2], [[0, 1], [1, 2]], None, TypeError, "phase must be a 1-D integer array"),
    ([1, 1, 2], [[0, 1], [1, 2]], [np.nan, 1, 1], ValueError, "finite and >= 0, got .nan."),
    ([1, 1, 2], [[0, 1], [1, 2]], [-1, 1, 1], ValueError, "finite and >= 0, got .-1.0."),
    ([1, 1, 2], [[0, 1], [1, 2]], [0, 0, 1], ValueError, "volume is 0 for all 2 CAM"),
])
def test_bad_graph_is_refused_not_read_as_another(phase, pairs, vol, error, match):
    # each of these used to give an answer: indices truncated, unknown codes read as
    # non-CAM, or theta NaN without a word
    with pytest.raises(error, match=match):
        _run(phase, pairs, cc=[0], sep=[2], vol=vol)


def test_graph_arrays_must_be_one_per_particle():
    with pytest.raises(ValueError, match=r"phase must be a 1-D array .* got shape \(1, 3\)"):
        cam_utilization_graph(np.array([[1, 1, 2]]), np.array([[0, 1]]),
                              touches_cc=np.ones(3, bool), touches_separator=np.ones(3, bool),
                              volume=np.ones(3))
    with pytest.raises(ValueError, match=r"pairs must be an \(m, 2\) array .* \(1, 3\)"):
        cam_utilization_graph(np.array([1, 1, 2]), np.array([[0, 1, 2]]),
                              touches_cc=np.ones(3, bool), touches_separator=np.ones(3, bool),
                              volume=np.ones(3))
    with pytest.raises(ValueError, match=r"touches_cc must be \(3,\) booleans"):
        cam_utilization_graph(np.array([1, 1, 2]), np.array([[0, 1]]),
                              touches_cc=np.array([2, 0, 0]),
                              touches_separator=np.ones(3, bool), volume=np.ones(3))
