"""The alpha = 1/2 phase transition: sympy derivation vs SPEC's formulas vs the exact minimal rank."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import zeta

import theory
from theory.phase_transition import em_partial_sum


@pytest.fixture(scope="module")
def derivation():
    return theory.derive_phase_transition()


def test_sympy_derives_the_spec_formulas_in_all_three_regimes(derivation):
    alpha, eps, c, kappa = sp.symbols("alpha epsilon c kappa", positive=True)
    spec = (eps * (2 * alpha - 1) * sp.zeta(2 * alpha)) ** (-1 / (2 * alpha - 1))
    got = derivation.r_eps_above
    for a, e in ((0.6, 0.09), (0.75, 0.1), (1.3, 0.02)):  # the symbolic forms agree pointwise
        want = float(spec.subs({alpha: a, eps: e}))
        assert float(got.subs({alpha: a, eps: e})) == pytest.approx(want, rel=1e-12)
    assert sp.simplify(derivation.c_eps_below - (1 - eps) ** (1 / (1 - 2 * alpha))) == 0
    assert sp.simplify(derivation.kappa_eps_critical - (1 - eps)) == 0
    s, r = sp.Symbol("s", positive=True), sp.Symbol("r", positive=True)
    assert sp.simplify(derivation.leading_above - r ** (1 - s) / ((s - 1) * sp.zeta(s))) == 0
    assert sp.simplify(derivation.ratio_below - (1 - c ** (1 - s))) == 0
    assert sp.simplify(derivation.ratio_critical - (1 - kappa)) == 0


def test_spec_constants_reported_honestly():
    assert 0.9e5 < theory.r_eps_constant(0.6, 0.09) < 1.1e5  # SPEC: ~1e5 at alpha = 0.6
    assert theory.r_eps_constant(0.536, 0.09) > 1e14  # astronomically large at the paper's alpha
    assert theory.r_eps_constant(0.5001, 0.09) == np.inf  # overflows a float: reported as inf, not an error


@settings(max_examples=20)
@given(st.floats(0.05, 2.0), st.integers(5, 3000))
def test_euler_maclaurin_partial_sum_matches_the_direct_sum(alpha, n):
    direct = np.sum(np.arange(1, n + 1, dtype=np.float64) ** (-2 * alpha))
    # the error is about the first omitted term |B_8 / 8! f^(7)(n)|, f = x^-s (3 Bernoulli terms are kept)
    s = 2 * alpha
    omitted = (1 / 30) / 40320 * np.prod([s + k for k in range(7)]) * n ** (-s - 7)
    assert abs(float(em_partial_sum(n, alpha)) - direct) <= 2 * omitted + 1e-13 * direct


@settings(max_examples=15)
@given(st.floats(0.05, 2.0), st.floats(0.01, 0.5), st.integers(10, 20000))
def test_minimal_rank_from_sympy_formula_equals_the_exact_minimal_rank(alpha, eps, size):
    assert abs(theory.formula_rank(alpha, size, eps) - theory.numeric_rank(alpha, size, eps)) <= 1


def test_table_side_by_side_bounded_above_half_linear_below():
    alphas, sizes = [0.3, 0.5, 0.75, 1.0], [100, 1000, 10000, 100000]
    tab = theory.phase_transition_table(alphas, sizes, 0.09)
    num, em = np.array(tab["numeric"]), np.array(tab["formula"])
    assert np.abs(num - em).max() <= 1
    assert num[3, -1] == num[3, -2] == 7  # bounded: alpha = 1 reached its limit ...
    r_inf = theory.formula_rank(0.75, float("inf"), 0.09)  # ... alpha = 0.75 creeps up to its N = oo value
    assert np.all(np.diff(num[2]) >= 0) and np.all(np.diff(np.diff(num[2])) < 0)
    assert 0 <= r_inf - num[2, -1] <= 5
    assert tab["constants"]["1.0"] == pytest.approx(6.755, abs=1e-3) and "0.3" not in tab["constants"]
    # linear: r/N within 4% of the slope (1 - eps)^{1/(1 - 2 alpha)} from N = 100 on, and approaching it
    dev = np.abs(num[0] / np.array(sizes) - (1 - 0.09) ** (1 / 0.4))
    assert dev.max() < 0.04 and np.all(np.diff(dev) < 0)
    np.testing.assert_allclose(num[1], np.exp(-0.09 * np.euler_gamma) * np.array(sizes) ** 0.91, rtol=0.02)
    assert tab["regimes"] == ["below", "critical", "above", "above"] and len(tab["theory"][0]) == len(
        tab["theory_sizes"])


def test_phase_transition_claim_and_its_negative_control():
    c = theory.get_claim("phase_transition")
    ev = c.check(1, instances=6, n_max=10**4)
    assert ev.holds, ev.counterexample
    assert not c.negative_control(0).holds


def test_next_order_formula_explains_slow_convergence_near_one_half():
    a, e, N = 0.45, 0.1, 10**5
    r = theory.numeric_rank(a, N, e)
    assert abs(r / N - (1 - e) ** 10) / (1 - e) ** 10 > 0.3  # far from the leading-order slope ...
    assert theory.next_order_rank(a, N, e) == pytest.approx(r, rel=0.01)  # ... explained by the zeta term
    assert zeta(2 * a) < 0


def test_bad_inputs_name_the_rule():
    with pytest.raises(ValueError, match="eps: must satisfy 0 < eps < 1"):
        theory.phase_transition_table([0.7], [100], 1.5)
    with pytest.raises(ValueError, match="sizes: each N must satisfy 1 <= N <= 1e8"):
        theory.phase_transition_table([0.7], [10**9], 0.1)
    with pytest.raises(ValueError, match="alpha: the constant exists only for alpha > 1/2"):
        theory.r_eps_constant(0.4, 0.1)
    with pytest.raises(ValueError, match="N = inf needs alpha > 1/2"):
        theory.formula_rank(0.4, float("inf"), 0.1)
