"""Representation power: which models have low logit rank, measured exhaustively against the closed forms.

Claims (proofs in the model docstrings of :mod:`simulators`):

``representation.noisy_parity``
    Noisy parity has ``rank L(Sigma^t, Sigma^{<= n-t}) = 1`` at every cut (``0`` at noise 1/2) —
    :meth:`simulators.NoisyParity.exact_rank` — although learning it from samples is believed hard.
``representation.sparse_polynomial``
    Bits with sparse-polynomial log-odds ``sum_i a_i chi_{S_i}(x)`` are an ISAN of dimension ``m + 1``
    (:meth:`simulators.SparsePolynomialBits.to_isan`, one running parity per monomial plus a constant); the
    measured ranks obey the model's cut bound ``<= m + 1``.
``representation.copying``
    Copying has rank ``(V-1) t + 1`` (``t < n``) and ``(V-1)(2n - t)`` (``t >= n``), largest ``(V-1) n`` at
    ``t = n``, below the dimension ``n V + 1`` of its explicit ISAN (:meth:`simulators.Copying.to_isan`).
``representation.ngram``
    An order-k n-gram has logit rank ``<= V^{k-1}`` (histories with the same last ``k-1`` tokens share rows).
``representation.hmm``
    HMMs are *not* exactly low rank: the cut rank grows with the horizon past the number of states ``S``,
    while the spectrum decays (the rank for relative squared error ``1e-3`` stays ``<= S + 1``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from logitrank import approx_rank, numerical_rank
from simulators import HMM, Copying, NGram, NoisyParity, SparsePolynomialBits

from .enumeration import RANK_RTOL, check_enumerable, cut_ranks, cut_spectra
from .equivalence import REPRODUCTION_TOL, reproduction_error
from .registry import Claim, Evidence, Tally, register

__all__ = ["hmm_is_nondegenerate"]


def _mismatch(a: list[int], b: list[int]) -> int:
    return sum(abs(x - y) for x, y in zip(a, b, strict=True))


# --- noisy parity ------------------------------------------------------------------------------
def _check_parity(gen: np.random.Generator, *, instances: int, max_bits: int) -> Evidence:
    tally = Tally("representation.noisy_parity")
    check_enumerable(2, int(max_bits) + 1)
    for i in range(instances):
        n = int(gen.integers(1, max_bits + 1))
        k = int(gen.integers(0, n + 1))
        noise = 0.5 if i % 7 == 6 else float(gen.uniform(0.01, 0.49))
        m = NoisyParity.random(n, k, noise, rng=gen)
        measured = cut_ranks(m)
        closed = [m.exact_rank(t) for t in range(m.horizon)]
        tally.add(-_mismatch(measured, closed), instance=i, n_bits=n, subset=list(m.subset), noise=noise,
                  measured=measured, closed_form=closed)
    return tally.evidence()


def _control_parity(gen: np.random.Generator) -> Evidence:
    # the closed form "rank 1" against a model outside its hypotheses: two parities (a sparse polynomial)
    tally = Tally("representation.noisy_parity")
    for i in range(2):
        m = SparsePolynomialBits(5, [[0, 1], [2, 3]], np.array([[0, 0]] * 4 + [[1.5, -2.0]]))
        measured = cut_ranks(m)
        tally.add(-_mismatch(measured, [1] * m.horizon), instance=i, measured=measured, closed_form="rank 1")
    return tally.evidence()


# --- sparse polynomials ------------------------------------------------------------------------
def _check_sparse(gen: np.random.Generator, *, instances: int, max_bits: int, max_monomials: int) -> Evidence:
    tally = Tally("representation.sparse_polynomial")
    check_enumerable(2, int(max_bits))
    worst_err = 0.0
    for i in range(instances):
        n = int(gen.integers(2, max_bits + 1))
        mono = int(gen.integers(0, max_monomials + 1))
        m = SparsePolynomialBits.random(n, mono, max_degree=int(gen.integers(1, 4)),
                                        scale=float(gen.uniform(0.3, 3)), rng=gen)
        isan = m.to_isan()
        err = reproduction_error(isan, m)
        worst_err = max(worst_err, err)
        measured = cut_ranks(m)
        bounds = [m.rank_bound(t) for t in range(m.horizon)]
        margin = min(1.0 - err / REPRODUCTION_TOL,
                     float(min(b - r for b, r in zip(bounds, measured))),
                     float(mono + 1 - max(bounds)), -float(abs(isan.dim - (mono + 1))))
        tally.add(margin, instance=i, n_bits=n, monomials=m.monomials, isan_dim=isan.dim, max_error=err,
                  measured=measured, bounds=bounds)
    tally.details["max_reproduction_error"] = worst_err
    return tally.evidence()


def _control_sparse(gen: np.random.Generator) -> Evidence:
    # an ISAN with one coordinate too few (the last monomial's running parity dropped) cannot represent it
    tally = Tally("representation.sparse_polynomial")
    from simulators import TimeVaryingISAN

    for i in range(2):
        m = SparsePolynomialBits(6, [[0, 2], [1, 3], [4]], np.vstack([np.zeros((5, 3)), [[1.0, -1.5, 2.0]]]))
        full = m.to_isan()
        keep = [0, 1, 3]  # drop coordinate 2 (monomial {4}); keep the constant
        small = TimeVaryingISAN(full.x0[keep], full.A[:, :, keep][:, :, :, keep], full.B[:, :, keep])
        err = reproduction_error(small, m)
        tally.add(1.0 - err / REPRODUCTION_TOL, instance=i, isan_dim=small.dim, monomials=3, max_error=err)
    return tally.evidence()


# --- copying -----------------------------------------------------------------------------------
def _copying_rank(V: int, n: int, t: int) -> int:
    """The closed form of the copying model's cut rank at history length ``t``."""
    return (V - 1) * t + 1 if t < n else (V - 1) * (2 * n - t)


def _check_copying(gen: np.random.Generator, *, instances: int, max_vocab: int, max_n: int,
                   closed_form: Callable[[int, int, int], int] = _copying_rank) -> Evidence:
    tally = Tally("representation.copying")
    for i in range(instances):
        V = int(gen.integers(2, max_vocab + 1))
        n = int(gen.integers(1, max_n + 1))
        while V ** (2 * n) > 4096:  # keep the enumeration small
            n -= 1
        m = Copying(V, n, float(gen.uniform(0.5, 8.0)))
        measured = cut_ranks(m)
        closed = [closed_form(V, n, t) for t in range(m.horizon)]
        isan = m.to_isan()
        err = reproduction_error(isan, m)
        own_bound = [m.rank_bound(t) for t in range(m.horizon)]  # the model's own rank_bound, a third route
        margin = min(float(-_mismatch(measured, closed)), float(-_mismatch(measured, own_bound)),
                     1.0 - err / REPRODUCTION_TOL,
                     float(isan.dim - max(measured)), float((V - 1) * n - max(measured)))
        tally.add(margin, instance=i, V=V, n=n, measured=measured, closed_form=closed, isan_dim=isan.dim,
                  max_error=err)
    return tally.evidence()


def _control_copying(gen: np.random.Generator) -> Evidence:
    def without_plus_one(V: int, n: int, t: int) -> int:
        return (V - 1) * t if t < n else (V - 1) * (2 * n - t)
    return _check_copying(gen, instances=4, max_vocab=3, max_n=3, closed_form=without_plus_one)


# --- n-grams -----------------------------------------------------------------------------------
def _check_ngram(gen: np.random.Generator, *, instances: int, max_vocab: int, max_order: int,
                 max_horizon: int) -> Evidence:
    tally = Tally("representation.ngram")
    check_enumerable(int(max_vocab), int(max_horizon))
    tight = 0
    for i in range(instances):
        V = int(gen.integers(2, max_vocab + 1))
        k = int(gen.integers(1, max_order + 1))
        T = int(gen.integers(1, max_horizon + 1))
        m = NGram.random(V, k, T, concentration=float(10.0 ** gen.uniform(-1, 1)), rng=gen)
        measured = cut_ranks(m)
        cut_bounds = [m.rank_bound(t) for t in range(T)]
        tight += measured == cut_bounds
        margin = min(V ** (k - 1) - max(measured), min(b - r for b, r in zip(cut_bounds, measured)))
        tally.add(margin, instance=i, V=V, order=k, T=T, measured=measured, bound=V ** (k - 1))
    tally.details["instances_where_every_cut_bound_is_attained"] = tight
    return tally.evidence()


def _control_ngram(gen: np.random.Generator) -> Evidence:
    # an order-3 n-gram checked against the order-2 bound V^1
    tally = Tally("representation.ngram")
    for i in range(3):
        m = NGram.random(3, 3, 5, rng=gen)
        measured = cut_ranks(m)
        tally.add(3 - max(measured), instance=i, bound="V^(2-1) = 3", measured=measured)
    return tally.evidence()


# --- HMMs --------------------------------------------------------------------------------------
def _hmm_margin(hmm: HMM, horizons: list[int]) -> tuple[float, dict]:
    S = hmm.n_states
    max_ranks, approx = [], []
    for T in horizons:
        m = HMM(hmm.initial, hmm.transition, hmm.emission, T)
        spectra = cut_spectra(m)
        max_ranks.append(max(numerical_rank(s, rtol=RANK_RTOL) for s in spectra))
        approx.append(max(approx_rank(s, 1e-3) if s.max() > 0 else 0 for s in spectra))
    margins = [float(b - a) for a, b in zip(max_ranks, max_ranks[1:])]  # nondecreasing in T
    margins.append(float(max_ranks[-1] - max_ranks[0] - 1))  # grows with the horizon ...
    margins.append(float(max_ranks[-1] - S - 1))  # ... past the number of states
    margins.append(float(S + 1 - max(approx)))  # yet the spectrum decays: rank S + 1 for 1e-3 error
    return min(margins), {"states": S, "V": hmm.vocab_size, "horizons": horizons, "max_rank": max_ranks,
                          "approx_rank_1e-3": approx}


def hmm_is_nondegenerate(hmm: HMM, threshold: float = 0.3) -> bool:
    """Genericity hypothesis of the HMM claim: the hidden state has memory (second largest ``|eigenvalue|``
    of the transition matrix ``>= threshold``) and the states are distinguishable (every two emission
    rows at total variation ``>= threshold``). Without memory the HMM is a mixture of i.i.d. sources whose
    extra singular values sit at round-off level (~1e-11), so no rank growth is measurable."""
    ev = np.sort(np.abs(np.linalg.eigvals(hmm.transition)))[::-1]
    E = hmm.emission
    tv = [0.5 * np.abs(E[a] - E[b]).sum() for a in range(len(E)) for b in range(a + 1, len(E))]
    return bool(ev[1] >= threshold and min(tv) >= threshold)


def _check_hmm(gen: np.random.Generator, *, instances: int, max_states: int) -> Evidence:
    tally = Tally("representation.hmm")
    for i in range(instances):
        S = int(gen.integers(2, max_states + 1))
        V = int(gen.integers(2, 4))
        horizons = [3, 5, 7] if V == 2 else [3, 4, 5]
        hmm = HMM.random(V, S, horizons[-1], rng=gen)
        while not hmm_is_nondegenerate(hmm):  # draw until generic (see the hypotheses)
            hmm = HMM.random(V, S, horizons[-1], rng=gen)
        margin, info = _hmm_margin(hmm, horizons)
        tally.add(margin, instance=i, **info)
    return tally.evidence()


def _control_hmm(gen: np.random.Generator) -> Evidence:
    # one hidden state = i.i.d. tokens (an order-1 n-gram): the rank does not grow with the horizon
    tally = Tally("representation.hmm")
    for i in range(2):
        margin, info = _hmm_margin(HMM.random(3, 1, 5, rng=gen), [3, 4, 5])
        tally.add(margin, instance=i, **info)
    return tally.evidence()


register(Claim(
    id="representation.noisy_parity",
    statement="noisy parity: exact cutwise logit rank = closed form (1; 0 at noise 1/2)",
    latex=r"\operatorname{rank}L(\Sigma^t,\Sigma^{\le n-t})=\mathbf 1[\eta<\tfrac12]\ \forall t",
    hypotheses="n uniform bits then the parity of a subset S flipped w.p. eta in (0, 1/2]",
    bounds={"max_bits": (1, 12)},
    reference="SPEC.md §1 'Representation power'; simulators.NoisyParity.exact_rank",
    defaults={"instances": 14, "max_bits": 9},
    margin="-(sum over cuts of |measured rank - closed form|)",
    checker=_check_parity,
    control=_control_parity,
    control_description="a two-monomial sparse polynomial compared with the parity closed form (rank 1)",
))

register(Claim(
    id="representation.sparse_polynomial",
    statement="sparse-polynomial log-odds = ISAN of dim #monomials + 1; cut ranks <= bound <= m + 1",
    latex=r"\log\tfrac{\Pr[x_p=1]}{\Pr[x_p=0]}=\sum_{i\le m}a_{p,i}\chi_{S_i}(x)\Rightarrow"
          r"\text{ISAN of dim } m+1",
    hypotheses="bits; log-odds of bit p a polynomial in the +-1 earlier bits with m monomials",
    bounds={"max_bits": (2, 12), "max_monomials": (0, 12)},
    reference="SPEC.md §1 'Representation power'; simulators.SparsePolynomialBits.to_isan",
    defaults={"instances": 12, "max_bits": 9, "max_monomials": 5},
    margin="min of: 1 - ISAN error / 1e-9; cut bound - measured rank; m + 1 - largest cut bound",
    checker=_check_sparse,
    control=_control_sparse,
    control_description="the ISAN with one monomial coordinate removed (dimension m)",
))

register(Claim(
    id="representation.copying",
    statement="copying: measured rank = (V-1)t+1 (t<n) / (V-1)(2n-t) <= (V-1)n < ISAN dim nV+1",
    latex=r"\operatorname{rank}_t=\begin{cases}(V-1)t+1&t<n\\(V-1)(2n-t)&t\ge n\end{cases}\le nV+1",
    hypotheses="n uniform tokens then a tempered copy (sharpness != 0); V**(2n) <= 4096",
    bounds={"max_vocab": (2, 4), "max_n": (1, 6)},
    reference="SPEC.md §1 'Representation power'; simulators.Copying",
    defaults={"instances": 8, "max_vocab": 4, "max_n": 5},
    margin="min of: -mismatch with the closed form; 1 - ISAN error / 1e-9; ISAN dim - measured rank",
    checker=_check_copying,
    control=_control_copying,
    control_description="the same check against a closed form missing the +1 of the empty future (t < n)",
))

register(Claim(
    id="representation.ngram",
    statement="an order-k n-gram has logit rank <= V^(k-1) at every cut",
    latex=r"\Pr[x_p\mid x_{<p}]=P(x_p\mid x_{p-k+1:p-1})\Rightarrow\operatorname{rank}L(\Sigma^t,"
          r"\Sigma^{\le T-1-t})\le V^{k-1}",
    hypotheses="order-k Markov model with positive transition probabilities",
    bounds={"max_vocab": (2, 4), "max_order": (1, 4), "max_horizon": (1, 6)},
    reference="SPEC.md §1 'Representation power'; simulators.NGram.rank_bound",
    defaults={"instances": 20, "max_vocab": 4, "max_order": 3, "max_horizon": 6},
    margin="min(V^(k-1) - max rank, min over cuts of the model's cut bound - rank)",
    checker=_check_ngram,
    control=_control_ngram,
    control_description="order-3 n-grams against the order-2 bound V",
))

register(Claim(
    id="representation.hmm",
    statement="HMMs: cut rank grows with the horizon past #states, but rank S+1 gives 1e-3 error",
    latex=r"\max_t\operatorname{rank}L_T\uparrow\text{ in }T,\ >S;\quad r_{10^{-3}}\le S+1",
    hypotheses="random HMM (Dirichlet rows), S >= 2 states, non-degenerate: |lambda_2(P)| >= 0.3 and "
               "emission rows pairwise at TV >= 0.3 (hmm_is_nondegenerate)",
    bounds={"max_states": (2, 3)},
    reference="SPEC.md §1 'Representation power' (HMMs: approximately, not exactly, low rank)",
    defaults={"instances": 4, "max_states": 3},
    margin="min of: rank increments over T; growth - 1; max rank - S - 1; S + 1 - approx rank(1e-3)",
    checker=_check_hmm,
    control=_control_hmm,
    control_description="a one-state HMM (i.i.d. tokens): its rank does not grow",
))
