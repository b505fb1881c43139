import pytest

from solvers.phases import PHASE_CODES, pair_key


def test_pair_key_is_unordered_and_in_code_order():
    assert pair_key("se", "cam") == pair_key("cam", "se") == "cam|se"
    assert pair_key("carbon", "cam") == "cam|carbon"
    assert pair_key("se", "se") == "se|se"
    keys = {pair_key(a, b) for a in PHASE_CODES for b in PHASE_CODES}
    assert len(keys) == 10  # 4 phases: 4 + 6 unordered pairs


def test_pair_key_names_the_bad_phase():
    with pytest.raises(ValueError, match="'ncm'.*pore, cam, se, carbon"):
        pair_key("ncm", "se")
