"""The one validation module: each helper rejects what its rule forbids, naming parameter, rule and value."""

import numpy as np
import pytest

from logitrank.validation import check_choice, check_float, check_int, spawn_rngs, spawn_seeds


@pytest.mark.parametrize("bad", [2.7, True, "3", None, np.float64(2.0)])
def test_check_int_rejects_non_integers_naming_the_value(bad):
    with pytest.raises(TypeError, match=r"max_dim: must be an integer, got"):
        check_int("max_dim", bad)


def test_check_int_bounds_name_rule_and_value():
    assert check_int("k", np.int64(3), minimum=0, maximum=3) == 3
    with pytest.raises(ValueError, match=r"k: must be >= 0, got -1"):
        check_int("k", -1, minimum=0)
    with pytest.raises(ValueError, match=r"k: must be <= 3, got 4"):
        check_int("k", 4, maximum=3)


def test_check_float_rules():
    assert check_float("eps", 1, low=0) == 1.0
    with pytest.raises(TypeError, match=r"eps: must be a real number, got '0.1'"):
        check_float("eps", "0.1")
    with pytest.raises(TypeError, match=r"eps: must be a real number, got True"):
        check_float("eps", True)
    with pytest.raises(ValueError, match=r"eps: must be a finite number, got nan"):
        check_float("eps", float("nan"))
    with pytest.raises(ValueError, match=r"eps: must be > 0, got 0"):
        check_float("eps", 0.0, low=0, low_inclusive=False)
    with pytest.raises(ValueError, match=r"eta: must be < 0.5, got 0.5"):
        check_float("eta", 0.5, high=0.5, high_inclusive=False)
    assert check_float("x", float("inf"), allow_inf=True) == float("inf")


def test_check_choice_lists_the_options():
    assert check_choice("mode", "fixed", ("fixed", "iid")) == "fixed"
    with pytest.raises(ValueError, match=r"mode: must be one of 'fixed', 'iid', got 'FIXED'"):
        check_choice("mode", "FIXED", ("fixed", "iid"))
    with pytest.raises(ValueError, match=r"mode: must be one of"):
        check_choice("mode", ["fixed"], {"fixed", "iid"})


def test_spawned_streams_are_reproducible_and_independent():
    a, b = spawn_seeds(7, 3), spawn_seeds(7, 3)
    assert a == b and len(set(a)) == 3
    assert spawn_seeds(8, 3) != a
    r1, r2 = spawn_rngs(7, 2)
    x, y = r1.standard_normal(1000), r2.standard_normal(1000)
    assert abs(np.corrcoef(x, y)[0, 1]) < 0.15  # independent streams: |corr| ~ 1/sqrt(1000)
    # children of a SeedSequence equal numpy's own spawn
    ref = np.random.SeedSequence(7).spawn(2)
    assert np.array_equal(np.random.default_rng(ref[1]).random(4),
                          spawn_rngs(7, 2)[1].random(4))
