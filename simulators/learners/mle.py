"""Sample-only baseline: maximum likelihood of a time-varying ISAN by gradient descent (torch).

Minimises the mean negative log-likelihood per sequence

    NLL(x0, A, B) = -(1/N) sum_i sum_t log softmax(B_t x_t(x^i))_{x^i_t},   x_{t} = A_{t, x_t} x_{t-1},

with Adam over mini-batches, on ``1 - holdout`` of the samples; the parameters with the best held-out NLL
(checked every ``eval_every`` steps) are kept.  Initialisation: ``A_{t,z} = I + init_scale G / sqrt(d)``,
``B_t`` Gaussian of std ``init_scale``, ``x0`` a unit vector.

torch is imported only inside this module (``simulators`` itself stays torch-free: this module is loaded
lazily).  Runs on CPU, or CUDA when ``device`` is ``None`` and a GPU is present.  Seeded from ``rng``;
for a fixed device and thread count the result is reproducible.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from logitrank.validation import RngLike, as_rng, check_positive_int

from ..isan import TimeVaryingISAN
from .access import check_access
from .ngram_baseline import sample_count

__all__ = ["MLELearner"]


def _nll(x0: torch.Tensor, A: torch.Tensor, B: torch.Tensor, seqs: torch.Tensor) -> torch.Tensor:
    """Mean NLL per sequence of ``seqs`` (n, T) under the ISAN ``(x0, A, B)``."""
    n, T = seqs.shape
    X = x0.expand(n, -1)
    total = torch.zeros((), dtype=x0.dtype, device=x0.device)
    for t in range(T):
        logits = X @ B[t].T  # (n, V)
        total = total - torch.log_softmax(logits, dim=1).gather(1, seqs[:, t : t + 1]).sum()
        if t + 1 < T:
            X = torch.einsum("nij,nj->ni", A[t, seqs[:, t]], X)
    return total / n


class MLELearner:
    """Fit a :class:`TimeVaryingISAN` of dimension ``dim`` to samples by maximum likelihood.

    Parameters
    ----------
    dim : int
    steps : int
        Adam steps.
    lr : float
    batch_size : int
    holdout : float
        Fraction of the samples held out for model selection (``0`` keeps the last iterate).
    eval_every : int
    init_scale : float
    n_samples : int, optional
        Default: all of the access's budget (10 000 when unlimited).
    device : str, optional
        ``"cpu"``, ``"cuda"``; default CUDA when available.
    rng : Generator or int

    Attributes
    ----------
    model_ : TimeVaryingISAN ; train_nll_, heldout_nll_ : float ; samples_used_ : int
    stopped_early_ : bool — always False (the samples are drawn in one request, the budget's worth).
    """

    access_kind = "sample"

    def __init__(
        self,
        dim: int = 8,
        steps: int = 400,
        lr: float = 0.02,
        batch_size: int = 512,
        holdout: float = 0.1,
        eval_every: int = 25,
        init_scale: float = 0.3,
        n_samples: int | None = None,
        device: str | None = None,
        rng: RngLike = None,
    ):
        self.dim = dim
        self.steps = steps
        self.lr = lr
        self.batch_size = batch_size
        self.holdout = holdout
        self.eval_every = eval_every
        self.init_scale = init_scale
        self.n_samples = n_samples
        self.device = device
        self.rng = rng

    def fit(self, access: Any) -> MLELearner:
        check_access(access, ("vocab_size", "horizon", "sample"), "i.i.d. samples (a SampleAccess)")
        d = check_positive_int("dim", self.dim)
        steps = check_positive_int("steps", self.steps)
        bs = check_positive_int("batch_size", self.batch_size)
        every = check_positive_int("eval_every", self.eval_every)
        if not 0 <= self.holdout < 1:
            raise ValueError(f"holdout: must lie in [0, 1), got {self.holdout!r}")
        if not self.lr > 0:
            raise ValueError(f"lr: must be > 0, got {self.lr!r}")
        gen = as_rng(self.rng)
        V, T = int(access.vocab_size), int(access.horizon)
        n = sample_count(self.n_samples, access)
        seqs = access.sample(n)
        n_hold = int(round(self.holdout * n)) if n > 1 else 0
        perm = gen.permutation(n)
        device = torch.device(self.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        data = torch.as_tensor(seqs[perm], dtype=torch.int64, device=device)
        train, held = data[n_hold:], data[:n_hold]
        g = torch.Generator(device="cpu").manual_seed(int(gen.integers(2**62)))
        dt = torch.float64

        def init(*shape: int) -> torch.Tensor:
            return torch.randn(*shape, generator=g, dtype=dt)

        x0 = init(d)
        x0 = x0 / x0.norm()
        A = (
            torch.eye(d, dtype=dt).expand(max(T - 1, 0), V, d, d)
            + self.init_scale * init(max(T - 1, 0), V, d, d) / d**0.5
        )
        B = self.init_scale * init(T, V, d)
        params = [p.to(device).requires_grad_(True) for p in (x0, A, B)]
        opt = torch.optim.Adam(params, lr=self.lr)
        best = (float("inf"), [p.detach().clone() for p in params])
        for step in range(1, steps + 1):
            idx = torch.randint(0, train.shape[0], (min(bs, train.shape[0]),), generator=g).to(device)
            loss = _nll(params[0], params[1], params[2], train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if n_hold and (step % every == 0 or step == steps):
                with torch.no_grad():
                    h = float(_nll(params[0], params[1], params[2], held))
                if h < best[0]:
                    best = (h, [p.detach().clone() for p in params])
        final = best[1] if n_hold else [p.detach() for p in params]
        with torch.no_grad():
            self.train_nll_ = float(_nll(final[0], final[1], final[2], train))
        self.heldout_nll_ = best[0] if n_hold else float("nan")
        x0n, An, Bn = (p.cpu().numpy().astype(np.float64) for p in final)
        self.model_ = TimeVaryingISAN(x0n, An.reshape(max(T - 1, 0), V, d, d), Bn)
        self.samples_used_ = n
        self.stopped_early_ = False  # one request for the samples, the budget's worth
        return self
