"""Common machinery of the synthetic sequence models: validation, sampling, scoring, save/load."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from logitrank import logits_along, sample_sequences, sequence_log_prob
from logitrank.results_io import atomic_write, dumps_json
from logitrank.validation import RngLike, check_finite, check_prefixes, check_token_array

__all__ = ["SyntheticModel", "load_model", "MODEL_REGISTRY"]

MODEL_REGISTRY: dict[str, type[SyntheticModel]] = {}


class SyntheticModel:
    """Base class: a subclass implements ``_logits_batch`` for validated prefixes of equal length,
    ``rank_bound(t)``, and the array/param dictionaries used by save/load.

    Attributes ``vocab_size`` and ``horizon`` follow the :class:`logitrank.SequenceModel` protocol.
    """

    kind: ClassVar[str] = "base"
    vocab_size: int
    horizon: int

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        MODEL_REGISTRY[cls.kind] = cls

    # --- to implement -------------------------------------------------------------------------
    def _logits_batch(self, prefixes: np.ndarray) -> np.ndarray:
        """Centered logits of equal-length prefixes, int array (n, t) -> (n, V)."""
        raise NotImplementedError

    def rank_bound(self, t: int) -> int:
        """A proven upper bound on ``rank L(Sigma^t, Sigma^{<= T-1-t})``."""
        raise NotImplementedError

    def _arrays(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _params(self) -> dict[str, Any]:
        return {}

    @classmethod
    def _from_saved(cls, arrays: dict[str, np.ndarray], params: dict[str, Any]) -> SyntheticModel:
        return cls(**arrays, **params)

    # --- provided -----------------------------------------------------------------------------
    def logits(self, prefixes: Sequence[Sequence[int]]) -> np.ndarray:
        """Centered logits of each prefix, shape ``(len(prefixes), V)``, float64."""
        P = check_prefixes("prefixes", prefixes, self.vocab_size, self.horizon - 1)
        out = np.empty((len(P), self.vocab_size))
        lengths = np.array([len(p) for p in P])
        for t in np.unique(lengths):
            idx = np.flatnonzero(lengths == t)
            arr = np.array([P[i] for i in idx], dtype=np.int64).reshape(len(idx), int(t))
            out[idx] = self._logits_batch(arr)
        return self._finite(out)

    def _finite(self, out: np.ndarray) -> np.ndarray:
        """The model's own logits, checked finite (parameters can overflow float64 along a prefix)."""
        return check_finite(f"{type(self).__name__}.logits (its parameters overflow float64 here)", out)

    def logits_of_array(self, prefixes: np.ndarray) -> np.ndarray:
        """Centered logits of an ``(n, t)`` int array of equal-length prefixes, ``(n, V)``."""
        arr = check_token_array("prefixes", prefixes, self.vocab_size)
        if arr.shape[1] > self.horizon - 1:
            raise ValueError(f"prefixes: must be an (n, t) int array with t <= {self.horizon - 1}, "
                             f"got shape {arr.shape}")
        return self._finite(self._logits_batch(arr))

    def sample(self, n: int, length: int | None = None, *, rng: RngLike = None) -> np.ndarray:
        """``n`` i.i.d. sequences, int64 array ``(n, length)`` (default length = horizon)."""
        return sample_sequences(self, n, length, rng=rng)

    def log_prob(self, sequences: Sequence[Sequence[int]] | np.ndarray) -> np.ndarray:
        """Log-probability of each sequence, shape ``(n,)``."""
        return sequence_log_prob(self, sequences)

    def logits_along_sequences(self, sequences: np.ndarray) -> np.ndarray:
        """Centered logits at every position, ``(n, L, V)`` (see :func:`logitrank.logits_along`)."""
        return logits_along(self, sequences)

    def save(self, path: str | Path) -> Path:
        """Write the model to ``path`` (.npz: arrays plus a JSON header with kind and params)."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(".npz")
        header = dumps_json({"kind": self.kind, "params": self._params()})
        arrays: dict[str, Any] = {"__header__": np.array(header), **self._arrays()}
        return atomic_write(path, lambda fh: np.savez(fh, **arrays))

    @classmethod
    def load(cls, path: str | Path) -> SyntheticModel:
        """Read a model written by :meth:`save` (any kind when called on the base class)."""
        return load_model(path, expected=None if cls is SyntheticModel else cls)

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self._params().items() if k != "horizon")
        return f"{type(self).__name__}(V={self.vocab_size}, T={self.horizon}{', ' if params else ''}{params})"


def load_model(path: str | Path, expected: type[SyntheticModel] | None = None) -> SyntheticModel:
    """Load any synthetic model saved with :meth:`SyntheticModel.save`."""
    with np.load(Path(path), allow_pickle=False) as data:
        header = json.loads(str(data["__header__"]))
        arrays = {k: data[k] for k in data.files if k != "__header__"}
    kind = header["kind"]
    if kind not in MODEL_REGISTRY:
        raise ValueError(f"path: unknown model kind {kind!r} in {path}; known: {sorted(MODEL_REGISTRY)}")
    cls = MODEL_REGISTRY[kind]
    if expected is not None and not issubclass(cls, expected):
        raise ValueError(f"path: holds a {cls.__name__}, expected a {expected.__name__}")
    return cls._from_saved(arrays, header["params"])
