"""The claims registry: every statement of SPEC.md section 1 as a named, executable check.

A :class:`Claim` carries its statement (plain text and LaTeX), its hypotheses (text plus the box of
parameter values on which it is checked), a reference, and a ``check(rng, **params) -> Evidence``
that tests it on freshly generated random instances. Most claims also have a *negative control*: the
same check applied to an instance that violates a hypothesis, which must report ``holds=False`` —
evidence that the check can fail at all.

**Margins.** Each instance yields a *margin*, the slack of the claimed inequality in the claim's own
units (documented per claim): ``margin >= 0`` means the instance satisfies the claim. For equalities
the margin is ``tolerance - |error|``. :class:`Evidence` keeps the smallest margin seen.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from logitrank.results_io import to_jsonable
from logitrank.validation import RngLike, as_rng, check_int, check_positive_int

__all__ = [
    "Claim",
    "ClaimResult",
    "Evidence",
    "Tally",
    "claims",
    "format_table",
    "get_claim",
    "register",
    "run_claims",
]

_REGISTRY: dict[str, Claim] = {}


@dataclass
class Evidence:
    """What a check saw.

    Attributes
    ----------
    claim : str
        Id of the claim checked.
    holds : bool
        True iff every instance had margin ``>= 0``.
    instances : int
        Number of random instances tried.
    worst_margin : float
        Smallest margin seen (see the module docstring; negative = violated).
    counterexample : dict or None
        Description of the first violating instance (parameters, seed, the two sides).
    details : dict
        Claim-specific numbers (ranks, errors, tables); JSON-friendly.
    seconds : float
        Wall-clock time of the check.
    """

    claim: str
    holds: bool
    instances: int
    worst_margin: float
    counterexample: dict[str, Any] | None = None
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"claim": self.claim, "holds": self.holds, "instances": self.instances,
                "worst_margin": self.worst_margin, "counterexample": to_jsonable(self.counterexample),
                "details": to_jsonable(self.details), "seconds": self.seconds}


class Tally:
    """Accumulates per-instance margins into an :class:`Evidence` (used by every check).

    ``add(margin, **instance)`` records one instance; the first one with ``margin < 0`` becomes the
    counterexample.
    """

    def __init__(self, claim: str):
        self.claim = claim
        self.margins: list[float] = []
        self.counterexample: dict[str, Any] | None = None
        self.details: dict[str, Any] = {}
        self._start = time.perf_counter()

    def add(self, margin: float, **instance: Any) -> None:
        m = float(margin)
        if np.isnan(m):
            m = -np.inf  # a NaN side is a failure, never silently a pass
        self.margins.append(m)
        if m < 0 and self.counterexample is None:
            self.counterexample = {"margin": m, **instance}

    def evidence(self) -> Evidence:
        if not self.margins:
            raise ValueError(f"{self.claim}: no instance was checked (instances must be >= 1)")
        worst = float(min(self.margins))
        return Evidence(claim=self.claim, holds=bool(worst >= 0), instances=len(self.margins),
                        worst_margin=worst, counterexample=self.counterexample, details=self.details,
                        seconds=time.perf_counter() - self._start)


CheckFn = Callable[..., Evidence]


@dataclass(frozen=True)
class Claim:
    """One claim of the theory.

    Attributes
    ----------
    id : str
        Short stable identifier, e.g. ``"kl.frobenius_block"``.
    statement : str
        One line, plain text.
    latex : str
        The same statement in LaTeX.
    hypotheses : str
        Conditions under which it is claimed (text).
    bounds : dict
        ``{param: (low, high)}`` — the inclusive box of parameter values the check accepts; every
        claim also accepts ``instances`` (``>= 1``). Values outside → ``ValueError`` naming the limit.
    reference : str
        Where it comes from (SPEC section / paper).
    defaults : dict
        Default parameters, ``instances`` included (what ``logitrank verify`` runs).
    margin : str
        What the per-instance margin measures.
    """

    id: str
    statement: str
    latex: str
    hypotheses: str
    bounds: Mapping[str, tuple[float, float]]
    reference: str
    defaults: Mapping[str, Any]
    margin: str
    checker: CheckFn = field(repr=False)
    control: Callable[[np.random.Generator], Evidence] | None = field(default=None, repr=False)
    control_description: str = ""

    def validate(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Merge ``params`` into the defaults and check each against :attr:`bounds`."""
        unknown = sorted(set(params) - set(self.bounds) - {"instances"})
        if unknown:
            raise ValueError(f"{self.id}: unknown parameter(s) {unknown}; accepted: "
                             f"{sorted(set(self.bounds) | {'instances'})}")
        merged = {**self.defaults, **params}
        merged["instances"] = check_positive_int("instances", merged["instances"], maximum=100_000)
        for name, (lo, hi) in self.bounds.items():
            value = merged[name]
            if isinstance(lo, int) and isinstance(hi, int):  # an integer parameter: no float truncation
                value = merged[name] = check_int(name, value)
            if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
                raise TypeError(f"{name}: must be a number, got {value!r}")
            if not lo <= value <= hi:
                raise ValueError(f"{name}: claim {self.id!r} is checked for {lo} <= {name} <= {hi} "
                                 f"(its hypotheses / enumeration limit), got {value}")
        return merged

    def check(self, rng: RngLike = None, **params: Any) -> Evidence:
        """Check the claim on ``instances`` random instances drawn from ``rng``.

        Parameters outside :attr:`bounds` raise ``ValueError`` before any work is done.
        """
        merged = self.validate(params)
        gen = as_rng(rng)
        start = time.perf_counter()
        ev = self.checker(gen, **merged)
        ev.seconds = time.perf_counter() - start
        return ev

    @property
    def has_negative_control(self) -> bool:
        return self.control is not None

    def negative_control(self, rng: RngLike = None) -> Evidence:
        """The check on an instance violating a hypothesis; expected to report ``holds=False``."""
        if self.control is None:
            raise ValueError(f"{self.id}: this claim has no negative control "
                             "(it has no hypothesis to violate)")
        start = time.perf_counter()
        ev = self.control(as_rng(rng))
        ev.seconds = time.perf_counter() - start
        return ev


def register(claim: Claim) -> Claim:
    """Add ``claim`` to the registry (ids must be unique)."""
    if claim.id in _REGISTRY:
        raise ValueError(f"claim id {claim.id!r} is already registered")
    _REGISTRY[claim.id] = claim
    return claim


CLAIM_MODULES = ("centering", "kl_bounds", "tv_bound", "phase_transition", "equivalence", "representation",
                 "bottleneck", "learning", "learning_claims")
"""The modules of ``theory`` that register claims, in the order of SPEC section 1."""


def _load_all() -> None:
    # the claim modules register themselves on import
    import importlib

    for name in CLAIM_MODULES:
        importlib.import_module(f"{__package__}.{name}")


def claims() -> list[Claim]:
    """Every registered claim, in a stable order (the order of SPEC section 1)."""
    _load_all()
    return sorted(_REGISTRY.values(), key=_module_rank)  # stable: registration order within a module


def _module_rank(claim: Claim) -> int:
    name = claim.checker.__module__.rpartition(".")[2]
    return CLAIM_MODULES.index(name) if name in CLAIM_MODULES else len(CLAIM_MODULES)


def get_claim(claim_id: str) -> Claim:
    """The claim named ``claim_id``; ``ValueError`` listing the valid ids otherwise."""
    _load_all()
    if claim_id not in _REGISTRY:
        raise ValueError(f"claim: unknown id {claim_id!r}; valid ids: {', '.join(c.id for c in claims())}")
    return _REGISTRY[claim_id]


@dataclass
class ClaimResult:
    """One row of :func:`run_claims`: the evidence and (when run) the negative control's."""

    claim: Claim
    evidence: Evidence
    control: Evidence | None

    @property
    def ok(self) -> bool:
        """The claim holds and its negative control (if any) fails."""
        return self.evidence.holds and (self.control is None or not self.control.holds)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.claim.id, "statement": self.claim.statement, "latex": self.claim.latex,
                "reference": self.claim.reference, "margin": self.claim.margin, "ok": self.ok,
                "evidence": self.evidence.to_dict(),
                "negative_control": None if self.control is None else {
                    "description": self.claim.control_description, **self.control.to_dict()}}


def run_claims(
    ids: str | Iterable[str] | None = None,
    *,
    instances: int | None = None,
    seed: int = 0,
    controls: bool = True,
    progress: bool | None = None,
) -> list[ClaimResult]:
    """Check claims (all by default) and their negative controls.

    Parameters
    ----------
    ids : str or iterable of str, optional
        One claim id or several; default every claim.
    instances : int, optional
        Instances per claim (default: each claim's own default).
    seed : int
        Claim ``i`` (in registry order) uses ``numpy.random.default_rng([seed, i])``, so one claim's
        result does not depend on which others run.
    controls : bool
        Also run the negative controls.
    progress : bool, optional
        tqdm bar over claims (default: off).

    Returns
    -------
    list of ClaimResult
    """
    from tqdm.auto import tqdm

    all_claims = claims()
    order = {c.id: i for i, c in enumerate(all_claims)}
    if isinstance(ids, str):  # one id, not its characters
        ids = [ids]
    chosen = all_claims if ids is None else [get_claim(i) for i in ids]
    seed = check_int("seed", seed, minimum=0)
    out = []
    for c in tqdm(chosen, disable=not progress, desc="verify", unit="claim"):
        gen = np.random.default_rng([seed, order[c.id]])
        params = {} if instances is None else {"instances": instances}
        ev = c.check(gen, **params)
        ctl = c.negative_control(np.random.default_rng([seed, order[c.id], 1])) if (
            controls and c.has_negative_control) else None
        out.append(ClaimResult(c, ev, ctl))
    return out


def format_table(results: list[ClaimResult], *, width: int = 60) -> str:
    """A plain-text table: claim, statement, instances, worst margin, verdict, negative control, time."""
    header = ("claim", "statement", "inst", "worst margin", "verdict", "negative control", "sec")
    rows = []
    for r in results:
        stmt = r.claim.statement
        if len(stmt) > width:
            stmt = stmt[: width - 3] + "..."
        ctl = "-" if r.control is None else ("fails (ok)" if not r.control.holds else "HOLDS (bad)")
        rows.append((r.claim.id, stmt, str(r.evidence.instances), f"{r.evidence.worst_margin:.3g}",
                     "holds" if r.evidence.holds else "FAILS", ctl,
                     f"{r.evidence.seconds + (r.control.seconds if r.control else 0.0):.1f}"))
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in rows]
    n_bad = sum(not r.ok for r in results)
    lines.append(f"{len(results)} claims checked: "
                 + ("all hold, every negative control fails" if n_bad == 0 else f"{n_bad} NOT OK"))
    return "\n".join(lines)
