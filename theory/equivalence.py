"""The equivalence theorem: time-varying ISAN of dimension d  <=>  logit rank <= d at every cut.

**=> (claim ``equivalence.forward``).** For an ISAN, ``l(h . f) = C B_{|h|+|f|} A_f x_{|h|}(h)`` with
``C = I - 11^T/V``: every row of ``L(Sigma^t, Sigma^{<= T-1-t})`` is a fixed linear image of the state
``x_t(h) in R^d``, so its rank is ``<= d``. Checked by exhaustive enumeration on random ISANs.

**<= (claim ``equivalence.backward``), constructively** — :func:`isan_from_logits`. From logit access alone:
enumerate every cut matrix ``L_t = L(Sigma^t, Sigma^{<= T-1-t})`` (shape ``V^t x V |F_t|``) and take an
orthonormal basis ``U_t`` (``r_t x V|F_t|``, the top right singular vectors) of its row space, ``r_t`` its
rank.
The state is ``x_t(h) = U_t row_t(h)``, so ``row_t(h) = U_t^T x_t(h)``. The row of ``h . z`` is the row of
``h`` restricted to the columns ``(z . f', z')`` — a fixed 0/1 selection ``P_z`` — hence

    x_{t+1}(h . z) = U_{t+1} P_z U_t^T x_t(h) =: A_{t+1,z} x_t(h),    B_t = (empty-future block of U_t)^T,

and ``x_0 = U_0 row_0(())``. Then ``B_t x_t(h) = row_t(h)[empty future] = l(h)``: every next-token
distribution is reproduced exactly, with dimension ``r_t`` at step ``t``.

**Variable dimension.** :class:`simulators.TimeVaryingISAN` has one dimension ``d`` for all steps, so the
per-step maps (``A_{t+1,z}`` is ``r_{t+1} x r_t``) are zero-padded to ``d = max_t r_t``: the extra
coordinates of every state stay 0 and change nothing. The per-step dimensions are kept in
:attr:`RebuiltISAN.ranks`. On a model that is not low rank the construction still reproduces it, and
reports the true (large) ranks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.linalg import svd
from tqdm.auto import tqdm

from logitrank import QueryCounter, SequenceModel, all_futures, all_sequences, extended_logits, numerical_rank
from logitrank.validation import RngLike, as_rng, check_int, check_model, check_positive_int
from simulators import TimeVaryingISAN
from simulators.ngram import NGram

from .enumeration import RANK_RTOL, check_enumerable, cut_matrix, cut_ranks
from .registry import Claim, Evidence, Tally, register

__all__ = ["REPRODUCTION_TOL", "RebuiltISAN", "isan_from_logits", "rebuild_random_isans",
           "reproduction_error"]

REPRODUCTION_TOL = 1e-9
"""Largest absolute centered-logit error allowed when the rebuilt ISAN must reproduce a model."""


@dataclass
class RebuiltISAN:
    """Result of :func:`isan_from_logits`.

    Attributes
    ----------
    isan : TimeVaryingISAN
        Dimension ``dim = max(1, max ranks)``; step ``t`` uses only the first ``ranks[t]`` coordinates.
    ranks : list of int
        Dimension per step = the measured rank of ``L(Sigma^t, Sigma^{<= T-1-t})`` (capped at ``max_dim``).
    singular_values : list of arrays
        Spectrum of each cut matrix.
    max_error : float
        ``max |l_rebuilt(x) - l_model(x)|`` over every prefix ``x`` with ``|x| < T`` (against the logits
        queried during the construction).
    queries : int
        Logit vectors requested from the model: ``sum_t V^t |Sigma^{<= T-1-t}|``.
    truncated : bool
        True when ``max_dim`` cut some rank (the result is then an approximation).
    """

    isan: TimeVaryingISAN
    ranks: list[int]
    singular_values: list[np.ndarray] = field(repr=False)
    max_error: float
    queries: int
    truncated: bool

    @property
    def dim(self) -> int:
        return self.isan.dim


def isan_from_logits(
    model: SequenceModel,
    horizon: int | None = None,
    *,
    rtol: float = RANK_RTOL,
    max_dim: int | None = None,
    progress: bool | None = None,
) -> RebuiltISAN:
    """Build a time-varying ISAN from logit access alone (exhaustive enumeration; see the module docstring).

    Parameters
    ----------
    model : SequenceModel
        Only ``model.logits`` (or its ``extended_logits`` fast path) is used.
    horizon : int, optional
        ``T`` with ``1 <= T <= model.horizon`` (default ``model.horizon``); needs
        ``V**T <= theory.enumeration.MAX_ENUMERATION``.
    rtol : float
        Rank tolerance: singular values ``> rtol * sigma_1`` of each cut matrix count.
    max_dim : int, optional
        Keep at most this many basis vectors per step (truncated SVD): a deliberately too-small
        dimension, e.g. for negative controls. ``None`` keeps the full measured rank.
    progress : bool, optional
        tqdm bar over the ``T`` cuts.

    Returns
    -------
    RebuiltISAN
    """
    V, T_model = check_model(model)
    T = T_model if horizon is None else check_int("horizon", horizon, minimum=1, maximum=T_model)
    check_enumerable(V, T)
    if max_dim is not None:
        max_dim = check_positive_int("max_dim", max_dim)
    counter = QueryCounter(model)
    bases: list[np.ndarray] = []
    ranks: list[int] = []
    spectra: list[np.ndarray] = []
    rows0 = np.empty(0)  # the cut-0 matrix's first row, set at t = 0 (T >= 1)
    truncated = False
    targets: list[np.ndarray] = []
    for t in tqdm(range(T), disable=not progress, desc="isan_from_logits", unit="cut"):
        M = cut_matrix(counter, t, T)
        _, s, Wt = svd(M, full_matrices=False, check_finite=False)
        full = numerical_rank(s, rtol=rtol)
        r = full if max_dim is None else min(full, max_dim)
        truncated = truncated or r < full
        bases.append(Wt[:r])
        ranks.append(r)
        spectra.append(s)
        targets.append(M[:, :V])  # l(h) for every h in Sigma^t: the empty-future block
        if t == 0:
            rows0 = M[0]
    isan = _assemble(bases, ranks, rows0, V, T)
    # every prefix's logits were already queried (the empty-future blocks): no further queries to verify
    err = max(float(np.max(np.abs(extended_logits(isan, all_sequences(V, t), [()], progress=False)[:, 0]
                                  - targets[t]))) for t in range(T))
    return RebuiltISAN(isan=isan, ranks=ranks, singular_values=spectra, max_error=err,
                       queries=counter.queries, truncated=truncated)


def _assemble(bases: list[np.ndarray], ranks: list[int], rows0: np.ndarray, V: int, T: int
              ) -> TimeVaryingISAN:
    """The ISAN whose state at step ``t`` is ``bases[t]``'s coordinates of the cut-``t`` row (the module
    docstring's construction): ``rows0`` is the empty history's row of the cut-0 matrix."""
    d = max(1, max(ranks))
    x0 = np.zeros(d)
    x0[: ranks[0]] = bases[0] @ rows0
    B = np.zeros((T, V, d))
    A = np.zeros((T - 1, V, d, d))
    for t in range(T):
        B[t, :, : ranks[t]] = bases[t][:, :V].T  # empty future = the first V columns (all_futures order)
    for t in range(T - 1):
        index = {f: j for j, f in enumerate(all_futures(V, T - 1 - t))}
        nxt = all_futures(V, T - 2 - t)
        for z in range(V):
            cols = np.array([index[(z, *f)] * V + zz for f in nxt for zz in range(V)])
            A[t, z, : ranks[t + 1], : ranks[t]] = bases[t + 1] @ bases[t][:, cols].T
    return TimeVaryingISAN(x0, A, B)


def reproduction_error(candidate: SequenceModel, model: SequenceModel, horizon: int | None = None) -> float:
    """``max |l_candidate(x) - l_model(x)|`` over every prefix ``x`` with ``|x| < T`` (exhaustive)."""
    V, T_model = check_model(model)
    T = T_model if horizon is None else check_int("horizon", horizon, minimum=1, maximum=T_model)
    check_enumerable(V, T)
    worst = 0.0
    for t in range(T):
        H = all_sequences(V, t)
        a = extended_logits(candidate, H, [()], progress=False)
        b = extended_logits(model, H, [()], progress=False)
        worst = max(worst, float(np.max(np.abs(a - b))))
    return worst


# --- claims ------------------------------------------------------------------------------------
def _random_isan(gen: np.random.Generator, max_vocab: int, max_horizon: int, max_dim: int) -> TimeVaryingISAN:
    V = int(gen.integers(2, max_vocab + 1))
    T = int(gen.integers(1, max_horizon + 1))
    d = int(gen.integers(1, max_dim + 1))
    return TimeVaryingISAN.random(V, d, T, rng=gen, logit_scale=float(10.0 ** gen.uniform(-1, 1)))


def _check_forward(gen: np.random.Generator, *, instances: int, max_vocab: int, max_horizon: int,
                   max_dim: int) -> Evidence:
    tally = Tally("equivalence.forward")
    check_enumerable(int(max_vocab), int(max_horizon))
    for i in range(instances):
        m = _random_isan(gen, int(max_vocab), int(max_horizon), int(max_dim))
        ranks = cut_ranks(m)
        tally.add(m.dim - max(ranks), instance=i, V=m.vocab_size, T=m.horizon, d=m.dim, ranks=ranks)
    return tally.evidence()


def _forward_control(gen: np.random.Generator) -> Evidence:
    # an order-3 n-gram (rank up to V^2 = 9) is no ISAN of dimension 2: "rank <= d" must fail
    tally = Tally("equivalence.forward")
    for i in range(3):
        m = NGram.random(3, 3, 5, rng=gen)
        ranks = cut_ranks(m)
        tally.add(2 - max(ranks), instance=i, model=repr(m), d=2, ranks=ranks)
    return tally.evidence()


def _backward_instance(m: SequenceModel, *, max_dim: int | None = None) -> tuple[float, dict]:
    rebuilt = isan_from_logits(m, max_dim=max_dim)
    measured = cut_ranks(m)  # the original's ranks ...
    own = cut_ranks(rebuilt.isan)  # ... and the rebuilt ISAN's, computed on a different model
    mismatch = sum(abs(a - b) for a, b in zip(rebuilt.ranks, measured)) + sum(
        abs(a - b) for a, b in zip(own, measured))
    margin = 1.0 - rebuilt.max_error / REPRODUCTION_TOL
    if mismatch:
        margin = min(margin, -float(mismatch))
    return margin, {"model": repr(m), "max_error": rebuilt.max_error, "dims_per_step": rebuilt.ranks,
                    "measured_ranks": measured, "rebuilt_model_ranks": own, "queries": rebuilt.queries}


def _check_backward(gen: np.random.Generator, *, instances: int, max_vocab: int, max_horizon: int,
                    max_dim: int) -> Evidence:
    tally = Tally("equivalence.backward")
    check_enumerable(int(max_vocab), int(max_horizon))
    worst_err = 0.0
    for i in range(instances):
        if i % 4 == 3:  # a low-rank model that is not given as an ISAN
            m: SequenceModel = NGram.random(int(gen.integers(2, max_vocab + 1)), 2,
                                            int(gen.integers(1, max_horizon + 1)), rng=gen)
        else:
            m = _random_isan(gen, int(max_vocab), int(max_horizon), int(max_dim))
        margin, info = _backward_instance(m)
        worst_err = max(worst_err, info["max_error"])
        tally.add(margin, instance=i, **info)
    tally.details["max_reproduction_error"] = worst_err
    return tally.evidence()


def _backward_control(gen: np.random.Generator) -> Evidence:
    # too small a dimension for an order-3 n-gram: the rebuilt model cannot reproduce it
    tally = Tally("equivalence.backward")
    for i in range(2):
        m = NGram.random(3, 3, 5, rng=gen)
        rebuilt = isan_from_logits(m, max_dim=2)
        tally.add(1.0 - rebuilt.max_error / REPRODUCTION_TOL, instance=i, model=repr(m), max_dim=2,
                  max_error=rebuilt.max_error, true_ranks=cut_ranks(m))
    return tally.evidence()


_BOUNDS = {"max_vocab": (2, 4), "max_horizon": (1, 6), "max_dim": (1, 6)}
_BOX_DEFAULTS = {"max_vocab": 4, "max_horizon": 6, "max_dim": 4}  # both directions check the same box

register(Claim(
    id="equivalence.forward",
    statement="a time-varying ISAN of dimension d has rank L(Sigma^t, Sigma^{<=T-1-t}) <= d for every t",
    latex=r"\ell(h\circ f)=C B_{|h|+|f|}A_f x_{|h|}(h)\ \Rightarrow\ "
          r"\operatorname{rank}L_M(\Sigma^t,\Sigma^{\le T-1-t})\le d\quad\forall\,0\le t<T",
    hypotheses="M a time-varying ISAN (random: Haar transitions, Gaussian readouts); exhaustive V, T small",
    bounds=_BOUNDS,
    reference="SPEC.md §1 'Equivalence theorem' (=>)",
    defaults={"instances": 30, **_BOX_DEFAULTS},
    margin="d - max_t rank_t (integer)",
    checker=_check_forward,
    control=_forward_control,
    control_description="an order-3 n-gram over V=3 (ranks up to 9) tested against d = 2",
))

register(Claim(
    id="equivalence.backward",
    statement="isan_from_logits rebuilds any model from logits: error <= 1e-9, dims per step = ranks",
    latex=r"x_{t+1}(h\circ z)=U_{t+1}P_zU_t^\top x_t(h),\ B_t=(U_t)_{\emptyset}^\top:\ "
          r"\max_x|\hat\ell(x)-\ell_M(x)|\le10^{-9},\ "
          r"\dim_t=\operatorname{rank}L_M(\Sigma^t,\Sigma^{\le T-1-t})",
    hypotheses="any model with logit access, V**T small enough for exhaustive enumeration (here V<=4, T<=6)",
    bounds=_BOUNDS,
    reference="SPEC.md §1 'Equivalence theorem' (<=, constructive)",
    defaults={"instances": 24, **_BOX_DEFAULTS},
    margin="1 - max logit error / 1e-9 (negative if a dimension differs from the measured rank)",
    checker=_check_backward,
    control=_backward_control,
    control_description="order-3 n-gram (ranks up to 9) rebuilt with max_dim = 2",
))


def rebuild_random_isans(n: int, *, max_vocab: int = 4, max_horizon: int = 6, max_dim: int = 4,
                         rng: RngLike = None) -> list[dict]:
    """Rebuild ``n`` random ISANs (``V <= max_vocab, T <= max_horizon, d <= max_dim``) and report, per model,
    ``V, T, d``, the max reproduction error, the dimensions per step and the measured ranks."""
    gen = as_rng(rng)
    out = []
    for _ in range(n):
        m = _random_isan(gen, max_vocab, max_horizon, max_dim)
        _, info = _backward_instance(m)
        out.append({"V": m.vocab_size, "T": m.horizon, "d": m.dim, **info})
    return out
