"""Power-law fits of singular-value spectra, ``sigma_i ~ C i^(-alpha)``, and approximate rank.

The exponent decides how the rank needed for a given relative error scales with the matrix size
(SPEC section 1): for ``alpha > 1/2`` it is a constant, for ``alpha < 1/2`` it grows linearly.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .validation import (
    RngLike,
    as_rng,
    check_choice,
    check_float,
    check_int,
    check_positive_int,
    check_size,
    check_spectrum,
    short,
)

__all__ = ["BOOTSTRAP_METHODS", "ZERO_RTOL", "PowerLawFit", "ScalingFit", "approx_rank",
           "default_index_range", "fit_power_law", "fit_scaling", "loglog_fit", "summarize_spectrum"]

BOOTSTRAP_METHODS = ("log-blocks", "block", "residual", "pairs")
LOG_BLOCKS = 10
"""Number of equal-width bins in ``log i`` used as clusters by the ``"log-blocks"`` bootstrap."""
MIN_CLUSTERS = 8
"""Fewer non-empty log bins than this and ``"log-blocks"`` falls back to ``"block"`` (recorded in the fit)."""
ZERO_RTOL = 1e-6
"""Singular values ``<= ZERO_RTOL * sigma_1`` count as numerically zero when choosing the fit range
(above the ``~1.5e-8 sigma_1`` floor of the Gram path and far below any spectrum worth fitting)."""


@dataclass(frozen=True)
class PowerLawFit:
    """Result of :func:`fit_power_law`: ``sigma_i ~ C i^(-alpha)`` on ``lo <= i <= hi`` (1-based).

    Attributes
    ----------
    alpha : float
        Decay exponent (minus the log-log slope).
    log_c : float
        ``log C`` (natural log), the intercept.
    alpha_ci : (float, float)
        Percentile bootstrap interval for ``alpha`` at level ``confidence``.
    r_squared : float
        Coefficient of determination of the log-log regression.
    index_range : (int, int)
        ``(lo, hi)``, 1-based inclusive indices of the singular values used.
    n_points : int
        ``hi - lo + 1``.
    confidence : float
    n_bootstrap : int
    bootstrap : str
        Resampling scheme (see :func:`fit_power_law`).
    """

    alpha: float
    log_c: float
    alpha_ci: tuple[float, float]
    r_squared: float
    index_range: tuple[int, int]
    n_points: int
    confidence: float
    n_bootstrap: int
    bootstrap: str

    @property
    def c(self) -> float:
        """The prefactor ``C = exp(log_c)``."""
        return math.exp(self.log_c)

    def predict(self, index: np.ndarray | Sequence[int] | int) -> np.ndarray:
        """``C i^(-alpha)`` at 1-based indices ``i``."""
        i = np.asarray(index, dtype=np.float64)
        return np.exp(self.log_c - self.alpha * np.log(i))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples become lists)."""
        out = asdict(self)
        out["c"] = self.c
        out["alpha_ci"] = list(self.alpha_ci)
        out["index_range"] = list(self.index_range)
        return out


def default_index_range(s: np.ndarray) -> tuple[int, int]:
    """The default fit range ``(lo, hi)`` (1-based, inclusive) for a spectrum ``s`` (sorted descending).

    With ``r`` the number of numerically non-zero values (``sigma_i > ZERO_RTOL * sigma_1``):
    ``hi = max(floor(r / 2), min(r, 5))`` and ``lo = 2``. The top value ``sigma_1`` is skipped (it
    often carries the mean direction and sits apart from the power law); the upper half is skipped
    because a finite sub-matrix of an approximately low-rank operator bends down at the end of its
    spectrum, and the numerically-zero tail carries no information. When that leaves fewer than 3
    points, ``lo = 1``. Raises if ``r < 3``.
    """
    top = float(s[0]) if s.size else 0.0
    r = int(np.count_nonzero(s > ZERO_RTOL * top)) if top > 0 else 0
    if r < 3:
        raise ValueError(
            f"s: need at least 3 numerically non-zero singular values (> {ZERO_RTOL:g} * sigma_1) to fit "
            f"a power law, got {r}"
        )
    hi = max(r // 2, min(r, 5))
    lo = 2 if hi - 2 + 1 >= 3 else 1
    return lo, hi


def _slopes(x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """Weighted least-squares slopes of rows ``y[b]`` on rows ``x[b]`` (broadcast), shape (B,)."""
    if w is None:
        w = np.ones(np.broadcast_shapes(x.shape, y.shape))
    sw = w.sum(axis=-1, keepdims=True)
    xc = x - (w * x).sum(axis=-1, keepdims=True) / sw
    yc = y - (w * y).sum(axis=-1, keepdims=True) / sw
    sxx = (w * xc * xc).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (w * xc * yc).sum(axis=-1) / sxx


def _log_clusters(x: np.ndarray) -> np.ndarray:
    """Cluster label of each point: its bin among ``LOG_BLOCKS`` equal-width bins of ``x = log i``
    (empty bins dropped, labels ``0..G-1``)."""
    edges = np.linspace(x[0], x[-1], LOG_BLOCKS + 1)
    raw = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, LOG_BLOCKS - 1)
    return np.unique(raw, return_inverse=True)[1].reshape(-1)


def fit_power_law(
    s: np.ndarray | Sequence[float],
    *,
    index_range: tuple[int, int] | None = None,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    bootstrap: str = "log-blocks",
    rng: RngLike = None,
) -> PowerLawFit:
    """Fit ``sigma_i ~ C i^(-alpha)`` by least squares in log-log coordinates.

    Ordinary least squares of ``y_i = log sigma_i`` on ``x_i = log i`` over ``lo <= i <= hi``
    (1-based): ``y = log C - alpha x``. ``R^2 = 1 - SS_res / SS_tot``. The interval is the percentile
    interval of ``alpha`` over ``n_bootstrap`` resampled fits:

    ``"log-blocks"`` (default)
        cluster bootstrap: the points are grouped into ``LOG_BLOCKS = 10`` bins of equal width in
        ``log i`` and whole bins are resampled with replacement (a point's weight is the number of times
        its bin is drawn). Residuals of a spectrum are correlated over a range of indices that grows
        with ``i`` (a sorted noisy spectrum wiggles slowly around the line), so neither single points nor
        fixed-length blocks are independent; bins of equal log-width are. In checks on sorted
        log-normal-noise spectra (n = 499 points) the 95% interval covered the true exponent in 96% of
        100 cases, against 58% for ``"block"`` and less for ``"residual"``/``"pairs"``. With fewer than
        ``MIN_CLUSTERS = 8`` non-empty bins (short ranges) it falls back to ``"block"``, and the fit's
        ``bootstrap`` field says so.
    ``"block"``
        moving-block bootstrap of the residuals (blocks of ``max(1, round(n^(1/3)))`` consecutive
        indices) added back to the fitted line; for independent noise it behaves like ``"residual"``.
    ``"residual"``
        i.i.d. resampling of the residuals.
    ``"pairs"``
        i.i.d. resampling of the points ``(x_i, y_i)``.

    Parameters
    ----------
    s : array, shape (n,)
        Singular values, descending, non-negative.
    index_range : (int, int), optional
        ``(lo, hi)``, 1-based inclusive, ``1 <= lo``, ``hi <= n``, at least 3 points, all ``sigma_i > 0``.
        Default: :func:`default_index_range`.
    n_bootstrap : int, ``>= 1``
    confidence : float in (0, 1)
    bootstrap : ``"log-blocks"``, ``"block"``, ``"residual"`` or ``"pairs"``
    rng : Generator or seed

    Returns
    -------
    PowerLawFit
    """
    arr = _check_descending_spectrum(s)
    n_bootstrap, confidence = _check_bootstrap_options(arr, n_bootstrap, confidence, bootstrap)
    lo, hi = default_index_range(arr) if index_range is None else _check_index_range(arr, index_range)
    x, y = _log_log_points(arr, lo, hi)
    slope, intercept, fitted, r2 = _log_log_line(x, y)
    boot, bootstrap = _bootstrap_slopes(x, y, fitted, bootstrap, n_bootstrap, as_rng(rng))
    boot = _finite_slopes(boot, bootstrap, (lo, hi))
    q = np.quantile(-boot, [(1 - confidence) / 2, (1 + confidence) / 2])
    return PowerLawFit(alpha=-slope, log_c=intercept, alpha_ci=(float(q[0]), float(q[1])), r_squared=r2,
                       index_range=(lo, hi), n_points=x.size, confidence=confidence, n_bootstrap=n_bootstrap,
                       bootstrap=bootstrap)


def _check_descending_spectrum(s: np.ndarray | Sequence[float]) -> np.ndarray:
    """``s`` checked as a spectrum (:func:`check_spectrum`) that is sorted in descending order."""
    arr = check_spectrum(s)
    if np.any(np.diff(arr) > 1e-12 * arr[0]):
        raise ValueError("s: singular values must be sorted in descending order")
    return arr


def _check_bootstrap_options(arr: np.ndarray, n_bootstrap: int, confidence: float,
                             bootstrap: str) -> tuple[int, float]:
    """The bootstrap options of :func:`fit_power_law` checked (and sized against ``arr``):
    ``(n_bootstrap, confidence)``."""
    n_bootstrap = check_positive_int("n_bootstrap", n_bootstrap)
    check_size("n_bootstrap", n_bootstrap, (n_bootstrap, arr.size), what="the bootstrap resamples")
    confidence = check_float("confidence", confidence, low=0, high=1, low_inclusive=False,
                             high_inclusive=False)
    check_choice("bootstrap", bootstrap, BOOTSTRAP_METHODS)
    return n_bootstrap, confidence


def _log_log_points(arr: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y) = (log i, log sigma_i)`` for the 1-based indices ``lo <= i <= hi``."""
    return np.log(np.arange(lo, hi + 1, dtype=np.float64)), np.log(arr[lo - 1 : hi])


def _log_log_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float, np.ndarray, float]:
    """Least-squares line ``y = intercept + slope x``: ``(slope, intercept, fitted values, R^2)``
    (``R^2 = 1`` when ``y`` is constant)."""
    slope = float(_slopes(x, y))
    intercept = float(y.mean() - slope * x.mean())
    fitted = intercept + slope * x
    resid = y - fitted
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float((resid**2).sum()) / ss_tot if ss_tot > 0 else 1.0
    return slope, intercept, fitted, r2


def _check_index_range(arr: np.ndarray, index_range: Any) -> tuple[int, int]:
    """``index_range`` of :func:`fit_power_law` checked against the spectrum ``arr``: ``(lo, hi)``."""
    if isinstance(index_range, str | bytes) or not isinstance(index_range, Sequence | np.ndarray) \
            or len(index_range) != 2:
        raise ValueError(f"index_range: must be a pair (lo, hi) of 1-based indices, "
                         f"got {short(index_range)}")
    lo = check_int("index_range[0]", index_range[0])
    hi = check_int("index_range[1]", index_range[1])
    if not (1 <= lo and hi <= arr.size and hi - lo + 1 >= 3):
        raise ValueError(
            f"index_range: must satisfy 1 <= lo, hi <= {arr.size} (len(s)) and hi - lo + 1 >= 3, "
            f"got {index_range}"
        )
    if (arr[lo - 1 : hi] <= 0).any():
        raise ValueError(f"index_range: all singular values in {index_range} must be > 0 (log-log fit)")
    return lo, hi


def _bootstrap_slopes(x: np.ndarray, y: np.ndarray, fitted: np.ndarray, method: str, n_bootstrap: int,
                      gen: np.random.Generator) -> tuple[np.ndarray, str]:
    """Slopes of ``n_bootstrap`` resampled fits of ``y`` on ``x`` around the fitted line ``fitted`` (see
    :func:`fit_power_law` for the methods), and the method used (``"log-blocks"`` falls back to
    ``"block"`` with fewer than ``MIN_CLUSTERS`` non-empty bins)."""
    n = x.size
    if method == "log-blocks":
        labels = _log_clusters(x)
        n_clusters = int(labels.max()) + 1
        if n_clusters >= MIN_CLUSTERS:
            drawn = gen.integers(0, n_clusters, size=(n_bootstrap, n_clusters))
            counts = np.zeros((n_bootstrap, n_clusters))
            np.add.at(counts, (np.arange(n_bootstrap)[:, None], drawn), 1.0)
            return _slopes(x, y, counts[:, labels]), method  # weight of a point = times its bin was drawn
        method = "block"
    if method == "pairs":
        idx = gen.integers(0, n, size=(n_bootstrap, n))
        return _slopes(x[idx], y[idx]), method
    resid = y - fitted
    if method == "residual":
        idx = gen.integers(0, n, size=(n_bootstrap, n))
    else:
        ell = max(1, round(n ** (1 / 3)))
        n_blocks = -(-n // ell)
        starts = gen.integers(0, n - ell + 1, size=(n_bootstrap, n_blocks))
        idx = (starts[:, :, None] + np.arange(ell)).reshape(n_bootstrap, -1)[:, :n]
    return _slopes(x, fitted + resid[idx]), method


def _finite_slopes(boot: np.ndarray, method: str, index_range: tuple[int, int]) -> np.ndarray:
    """The finite bootstrap slopes: a warning names how many resamples were degenerate (all points at
    one index); raises when none is finite (no interval exists)."""
    finite = np.isfinite(boot)
    n = index_range[1] - index_range[0] + 1
    if not finite.any():
        raise ValueError(f"bootstrap: every one of the {boot.size} {method!r} resamples was degenerate "
                         f"(all points at one index) over the {n} points of index_range {index_range}, so "
                         "there is no interval; use more points, more resamples or another bootstrap")
    if not finite.all():
        warnings.warn(f"fit_power_law: {int((~finite).sum())} of {boot.size} bootstrap resamples were "
                      "degenerate (all points at one index) and are left out of the interval", stacklevel=3)
        boot = boot[finite]
    return boot


def approx_rank(s: np.ndarray | Sequence[float], eps: float) -> int:
    """Smallest rank whose best approximation has relative squared Frobenius error at most ``eps``.

    ``r_eps = min { r >= 0 : sum_{i > r} sigma_i^2 <= eps * sum_i sigma_i^2 }`` — by Eckart–Young,
    ``sum_{i>r} sigma_i^2 / ||L||_F^2 = ||L - L_r||_F^2 / ||L||_F^2`` for the truncated SVD ``L_r``.

    Parameters
    ----------
    s : array, shape (n,), non-negative (sorted internally, descending)
    eps : float, ``0 <= eps <= 1`` (relative *squared* error; ``eps = 0`` gives the exact rank)

    Returns
    -------
    int, ``0 <= r_eps <= n``
    """
    arr = np.sort(check_spectrum(s))[::-1]
    eps = check_float("eps", eps, low=0, high=1)
    sq = (arr / arr[0]) ** 2 if arr[0] > 0 else arr**2  # scaled so tiny spectra do not underflow
    tails = np.append(np.cumsum(sq[::-1])[::-1], 0.0)  # tails[r] = sum_{i > r} sigma_i^2 (0-based r)
    return int(np.flatnonzero(tails <= eps * tails[0])[0])


def summarize_spectrum(
    s: np.ndarray | Sequence[float],
    *,
    rtol: float = 1e-10,
    eps: Sequence[float] = (0.01, 0.1),
    n_bootstrap: int = 1000,
    rng: RngLike = None,
) -> dict[str, Any]:
    """The headline numbers of a spectrum as a JSON-ready dict.

    Keys: ``numerical_rank`` (values ``> rtol * sigma_1``, see :func:`logitrank.numerical_rank`),
    ``approx_rank`` (``{str(eps): approx_rank(s, eps)}``), ``power_law`` (:meth:`PowerLawFit.to_dict`,
    or ``None`` with ``power_law_error`` explaining why when fewer than 3 values are non-zero) and
    ``singular_values``.
    """
    from .spectra import numerical_rank

    arr = check_spectrum(s)
    if isinstance(eps, str | bytes) or not isinstance(eps, Sequence | np.ndarray):
        raise TypeError(f"eps: must be a sequence of relative squared errors such as (0.01, 0.1), "
                        f"got {short(eps)} ({type(eps).__name__})")
    out: dict[str, Any] = {
        "numerical_rank": numerical_rank(arr, rtol=rtol),
        "rtol": rtol,
        "approx_rank": {str(e): approx_rank(arr, e) for e in eps},
        "power_law": None,
        "singular_values": arr.tolist(),
    }
    try:
        out["power_law"] = fit_power_law(arr, n_bootstrap=n_bootstrap, rng=rng).to_dict()
    except ValueError as exc:
        out["power_law_error"] = str(exc)
    return out


@dataclass(frozen=True)
class ScalingFit:
    """Result of :func:`fit_scaling`: ``y ~ C x^k`` on points ``(x_j, y_j)`` (several ``y`` per ``x``).

    Attributes
    ----------
    exponent : float — ``k``, the log-log slope.
    log_c : float — ``log C``.
    exponent_ci : (float, float) — percentile interval of ``k`` over pairs-bootstrap resamples.
    r_squared : float — of the log-log regression.
    n_points : int; decades : float — ``log10(max x / min x)``.
    affine : (float, float) — ``(a, b)`` of the competing affine law ``y ~ a + b x`` (``a, b >= 0``, fitted
        in log space, so both laws are judged on the same relative errors).
    power_wins : float — fraction of the resamples in which the power law's residual sum of squares (log
        space) is below the affine law's; ``verdict`` is ``"power"`` (``>= confidence``), ``"affine"``
        (``<= 1 - confidence``) or ``"undecided"``.
    """

    exponent: float
    log_c: float
    exponent_ci: tuple[float, float]
    r_squared: float
    n_points: int
    decades: float
    affine: tuple[float, float]
    power_wins: float
    verdict: str
    confidence: float
    n_bootstrap: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples become lists)."""
        out = asdict(self)
        out["exponent_ci"], out["affine"] = list(self.exponent_ci), list(self.affine)
        return out


def _affine_log_rss(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """``(a, b, rss)`` of ``log y ~ log(a + b x)``, ``a, b >= 0`` (bounded nonlinear least squares)."""
    from scipy.optimize import least_squares

    b0 = max(float(np.polyfit(x, y, 1)[0]), 1e-12 * float(y.mean() / x.mean()))
    a0 = max(float(y.mean() - b0 * x.mean()), 1e-12 * float(y.mean()))
    scale = np.array([a0 + b0 * x.mean(), (a0 + b0 * x.mean()) / x.mean()])

    def resid(p: np.ndarray) -> np.ndarray:
        return np.log(np.maximum(p[0] * scale[0] + p[1] * scale[1] * x, 1e-300)) - np.log(y)

    sol = least_squares(resid, [a0 / scale[0], b0 / scale[1]], bounds=([0.0, 0.0], [np.inf, np.inf]))
    return float(sol.x[0] * scale[0]), float(sol.x[1] * scale[1]), float((sol.fun**2).sum())


def fit_scaling(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray, *, n_bootstrap: int = 400,
                confidence: float = 0.95, rng: RngLike = None) -> ScalingFit:
    """Fit a cost law ``y ~ C x^k`` (log-log least squares) with a bootstrap interval, and test it against
    the affine law ``y ~ a + b x``.

    The points are resampled in pairs (``n_bootstrap`` times), so with several seeds per ``x`` the interval
    carries the seed-to-seed spread as well as the lack of fit.  The affine law has as many parameters as the
    power law, so the test compares their residual sums of squares in log space on each resample.

    Parameters
    ----------
    x, y : arrays, shape (n,) — positive; at least 3 points and 2 distinct ``x``.
    n_bootstrap : int, ``>= 1``; confidence : float in (0, 1); rng : Generator or seed

    Returns
    -------
    ScalingFit
    """
    xa, ya = np.asarray(x, dtype=np.float64).ravel(), np.asarray(y, dtype=np.float64).ravel()
    if xa.shape != ya.shape or xa.size < 3 or np.unique(xa).size < 2:
        raise ValueError(f"x, y: need the same length, >= 3 points and >= 2 distinct x, got {xa.size} and "
                         f"{ya.size} points, {np.unique(xa).size} distinct x")
    if not (np.all(np.isfinite(xa)) and np.all(np.isfinite(ya)) and xa.min() > 0 and ya.min() > 0):
        raise ValueError("x, y: must be finite and > 0 (a log-log fit)")
    n_bootstrap = check_positive_int("n_bootstrap", n_bootstrap)
    confidence = check_float("confidence", confidence, low=0, high=1, low_inclusive=False,
                             high_inclusive=False)
    lx, ly = np.log(xa), np.log(ya)
    k = float(_slopes(lx, ly))
    log_c = float(ly.mean() - k * lx.mean())
    ss_tot = float(((ly - ly.mean()) ** 2).sum())
    rss_power = float(((ly - log_c - k * lx) ** 2).sum())
    a, b, _ = _affine_log_rss(xa, ya)
    gen = as_rng(rng)
    boot, wins = [], []
    for _ in range(n_bootstrap):
        idx = gen.integers(0, xa.size, xa.size)
        if np.unique(xa[idx]).size < 2:
            continue
        kb = float(_slopes(lx[idx], ly[idx]))
        boot.append(kb)
        cb = ly[idx].mean() - kb * lx[idx].mean()
        wins.append(float(((ly[idx] - cb - kb * lx[idx]) ** 2).sum()) < _affine_log_rss(xa[idx], ya[idx])[2])
    q = np.quantile(boot, [(1 - confidence) / 2, (1 + confidence) / 2])
    frac = float(np.mean(wins))
    verdict = "power" if frac >= confidence else "affine" if frac <= 1 - confidence else "undecided"
    return ScalingFit(exponent=k, log_c=log_c, exponent_ci=(float(q[0]), float(q[1])),
                      r_squared=1.0 - rss_power / ss_tot if ss_tot > 0 else 1.0, n_points=int(xa.size),
                      decades=float(np.log10(xa.max() / xa.min())), affine=(a, b), power_wins=frac,
                      verdict=verdict, confidence=confidence, n_bootstrap=n_bootstrap)


def loglog_fit(r: np.ndarray, y: np.ndarray, *, r_min: float = 1, r_max: float = np.inf,
               confidence: float = 0.95) -> dict[str, Any]:
    """Least squares ``log y = log c + b log r`` over the points with ``r_min <= r <= r_max`` and ``y > 0``.

    Parameters
    ----------
    r, y : arrays, shape (n,) — ranks and values (NaN and non-positive ``y`` are skipped)
    r_min, r_max : the rank range fitted
    confidence : level of the two-sided t interval of ``b`` (``n - 2`` degrees of freedom)

    Returns
    -------
    dict with ``slope`` ``b``, ``ci`` (its interval; NaN with fewer than 3 points), ``r_squared``,
    ``max_abs_residual`` (in natural log units), ``n_points`` and the ``range`` ``[min r, max r]`` used
    (all NaN / 0 with fewer than 2 points).
    """
    from scipy import stats

    check_float("confidence", confidence, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    r, y = np.asarray(r, dtype=np.float64), np.asarray(y, dtype=np.float64)
    keep = np.isfinite(y) & (y > 0) & (r >= r_min) & (r <= r_max)
    n = int(keep.sum())
    nan = float("nan")
    if n < 2:
        return {"slope": nan, "ci": [nan, nan], "r_squared": nan, "max_abs_residual": nan, "n_points": n,
                "range": [nan, nan]}
    x, z = np.log(r[keep]), np.log(y[keep])
    xc = x - x.mean()
    b = float(xc @ (z - z.mean()) / (xc @ xc))
    resid = z - z.mean() - b * xc
    ss_tot = float(((z - z.mean()) ** 2).sum())
    r2 = 1.0 - float(resid @ resid) / ss_tot if ss_tot > 0 else 1.0
    ci = [nan, nan]
    if n >= 3:
        se = float(np.sqrt(resid @ resid / (n - 2) / (xc @ xc)))
        half = float(stats.t.ppf(0.5 + confidence / 2, n - 2)) * se
        ci = [b - half, b + half]
    return {"slope": b, "ci": ci, "r_squared": r2, "max_abs_residual": float(np.abs(resid).max()),
            "n_points": n, "range": [float(r[keep].min()), float(r[keep].max())]}
