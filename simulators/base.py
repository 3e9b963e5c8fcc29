"""Common machinery of the synthetic sequence models: validation, sampling, scoring, save/load."""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from logitrank import logits_along, sample_sequences, sequence_log_prob
from logitrank.logit_matrix import npz_path
from logitrank.results_io import CorruptFileError, atomic_write, dumps_json, load_npz
from logitrank.validation import RngLike, check_finite, check_prefixes, check_token_array

__all__ = ["SyntheticModel", "load_model", "MODEL_REGISTRY"]

MODEL_REGISTRY: dict[str, type[SyntheticModel]] = {}


class SyntheticModel:
    """Base class: a subclass implements ``_logits_batch`` for validated prefixes of equal length,
    ``rank_bound(t)``, and the array/param dictionaries used by save/load.

    Attributes ``vocab_size`` and ``horizon`` follow the :class:`logitrank.SequenceModel` protocol.
    """

    kind: ClassVar[str] = "base"
    centered_logits: ClassVar[bool] = True
    """Every answer is centered (each ``_logits_batch`` and fast path centers) and checked finite where it is
    produced (:meth:`_finite`): the core skips its centering pass (``logitrank.sequence_model.centered``)."""
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
        """Write the model to ``path`` (.npz: arrays plus a JSON header with kind, params and a SHA-256 of
        both); a path without a suffix gets ``.npz``, any other suffix is refused."""
        path = npz_path(path)
        arrays = {k: np.asarray(v) for k, v in self._arrays().items()}
        params = json.loads(dumps_json(self._params()))
        header = dumps_json({"format": MODEL_FORMAT, "kind": self.kind, "params": params,
                             "sha256": content_sha256(self.kind, params, arrays)})
        out: dict[str, Any] = {"__header__": np.array(header), **arrays}
        return atomic_write(path, lambda fh: np.savez(fh, **out))

    @classmethod
    def load(cls, path: str | Path) -> SyntheticModel:
        """Read a model written by :meth:`save` (any kind when called on the base class)."""
        return load_model(path, expected=None if cls is SyntheticModel else cls)

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self._params().items() if k != "horizon")
        return f"{type(self).__name__}(V={self.vocab_size}, T={self.horizon}{', ' if params else ''}{params})"


MODEL_FORMAT = "logitrank-model/1"


def content_sha256(kind: str, params: dict[str, Any], arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 of a saved model's kind, params (canonical JSON) and arrays (name, dtype, shape, bytes)."""
    h = hashlib.sha256(dumps_json({"kind": kind, "params": params}, sort_keys=True).encode())
    for key in sorted(arrays):
        a = np.ascontiguousarray(arrays[key])
        h.update(f"|{key}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _header(path: Path, data: dict[str, np.ndarray]) -> dict[str, Any]:
    raw = data.pop("__header__", None)
    if raw is None or raw.shape != () or raw.dtype.kind != "U":
        raise CorruptFileError(path, "has no JSON header (__header__); not a file written by "
                               "SyntheticModel.save")
    try:
        header = json.loads(str(raw))
    except json.JSONDecodeError as exc:
        raise CorruptFileError(path, f"its JSON header is damaged ({exc})") from exc
    if not isinstance(header, dict) or not isinstance(header.get("kind"), str) \
            or not isinstance(header.get("params"), dict):
        raise CorruptFileError(path, f"its header must hold a kind and params, got {str(raw)[:80]!r}")
    if header.get("format", MODEL_FORMAT) != MODEL_FORMAT:
        raise CorruptFileError(path, f"format must be {MODEL_FORMAT!r}, got {header.get('format')!r:.40}")
    return header


def _round_trip_problem(model: SyntheticModel, arrays: dict[str, np.ndarray], params: dict[str, Any]) -> str:
    """What the loaded model would save differently from the file ('' when nothing): an edited header
    (e.g. an n-gram ``order`` that drops or misreads tables) or arrays the model does not use."""
    mine = {k: np.asarray(v) for k, v in model._arrays().items()}
    if set(mine) != set(arrays):
        return f"its arrays {sorted(arrays)} are not those of the model its header describes {sorted(mine)}"
    for k, a in mine.items():
        b = arrays[k]
        if a.dtype != b.dtype or a.shape != b.shape or a.tobytes() != b.tobytes():
            return (f"array {k!r} ({b.dtype} {b.shape}) does not match the header's model "
                    f"({a.dtype} {a.shape})")
    if json.loads(dumps_json(model._params())) != params:
        return f"its header params {params} do not match the model they build ({model._params()})"
    return ""


def load_model(path: str | Path, expected: type[SyntheticModel] | None = None) -> SyntheticModel:
    """Load any synthetic model saved with :meth:`SyntheticModel.save`.

    The file is read defensively: a truncated, damaged (zip CRC, header SHA-256) or foreign file, a header
    edited so that it would describe another model, or arrays the model does not use raise
    :class:`logitrank.results_io.CorruptFileError` naming the file. Files written before the SHA-256 was
    recorded load with a warning after the same consistency checks.
    """
    path = Path(path)
    data = load_npz(path, what="synthetic model file")
    header = _header(path, data)
    kind, params = header["kind"], header["params"]
    if kind not in MODEL_REGISTRY:
        raise ValueError(f"path: unknown model kind {kind!r} in {path}; known: {sorted(MODEL_REGISTRY)}")
    cls = MODEL_REGISTRY[kind]
    if expected is not None and not issubclass(cls, expected):
        raise ValueError(f"path: {path} holds a {cls.__name__}, expected a {expected.__name__}")
    if "sha256" not in header:
        warnings.warn(f"{path}: written without a checksum (an older format); checked for consistency only",
                      UserWarning, stacklevel=2)
    elif header["sha256"] != content_sha256(kind, params, data):
        raise CorruptFileError(path, "its SHA-256 does not match the header and arrays (edited or damaged)")
    try:
        model = cls._from_saved(dict(data), params)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise CorruptFileError(path, f"does not describe a valid {cls.__name__} "
                               f"({type(exc).__name__}: {exc})") from exc
    problem = _round_trip_problem(model, data, params)
    if problem:
        raise CorruptFileError(path, problem)
    return model
