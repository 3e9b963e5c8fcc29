"""PlantedSpectrum: the power law planted in the initial state is what fit_power_law measures on its
extended logit matrices, and it is the non-mixing transitions that keep it there."""

from __future__ import annotations

import numpy as np
import pytest

from logitrank import (
    all_futures,
    all_sequences,
    extended_logit_matrix,
    fit_power_law,
    random_futures,
    random_histories,
    singular_values,
)
from simulators import PlantedSpectrum, TimeVaryingISAN, random_orthogonal

# V = 8, d = 32, T = 10, cut t = 5, |H| = 512 random histories, |F| = 256 random futures of length 0..4:
# |H| = 16 d keeps the finite-sample steepening (~ sqrt(1 - i/|H|), see PlantedSpectrum) below 0.01.
V, D, T, NH, NF = 8, 32, 10, 512, 256


def planted_matrix(model: TimeVaryingISAN, seed: int) -> tuple[np.ndarray, int, int]:
    gen = np.random.default_rng(1000 + seed)
    H = random_histories(V, NH, T // 2, rng=gen)
    F = random_futures(V, NF, T - 1 - T // 2, rng=gen)
    return extended_logit_matrix(model, H, F).values, len(H), len(F)


@pytest.mark.slow
@pytest.mark.parametrize("alpha", [0.3, 0.5, 0.7, 1.0])
def test_fit_power_law_recovers_planted_alpha(alpha: float) -> None:
    model = PlantedSpectrum.random(V, D, T, alpha, rng=0, C=1.5)
    L, nh, nf = planted_matrix(model, 0)
    s = singular_values(L)
    assert np.sum(s > 1e-9 * s[0]) == D  # rank exactly d
    fit = fit_power_law(s, rng=0)
    assert abs(fit.alpha - alpha) <= 0.03
    assert fit.alpha_ci[0] <= alpha <= fit.alpha_ci[1]
    # scale: sigma_i ~ C sqrt(|H| |F|) i^-alpha (columns of S and O have norms sqrt|H|, sqrt|F|)
    assert abs(fit.c / np.sqrt(nh * nf) / 1.5 - 1) < 0.1


@pytest.mark.slow
def test_planted_on_exhaustive_histories_and_futures() -> None:
    # the full L(Sigma^5, Sigma^{<=4}) of a V = 4 model: 1024 x 1364
    model = PlantedSpectrum.random(4, D, T, 0.6, rng=3)
    L = extended_logit_matrix(model, all_sequences(4, 5), all_futures(4, 4)).values
    fit = fit_power_law(singular_values(L), rng=0)
    assert abs(fit.alpha - 0.6) <= 0.03 and fit.alpha_ci[0] <= 0.6 <= fit.alpha_ci[1]


@pytest.mark.slow
def test_mixing_transitions_flatten_the_spectrum() -> None:
    # same x0 and readouts, Haar-orthogonal transitions instead of diagonal signs: the planted decay is lost
    planted = PlantedSpectrum.random(V, D, T, 1.0, rng=1)
    haar = random_orthogonal(D, np.random.default_rng(5), (T - 1, V))
    mixing = TimeVaryingISAN(planted.x0, haar, planted.B)
    a_planted = fit_power_law(singular_values(planted_matrix(planted, 1)[0]), rng=0).alpha
    a_mixing = fit_power_law(singular_values(planted_matrix(mixing, 1)[0]), rng=0).alpha
    assert abs(a_planted - 1.0) <= 0.03
    assert a_mixing < 0.3
