"""SPLADE word-piece vectors: max over tokens of log(1 + relu(MLM logits)), one weight per vocabulary entry.

The MLM head over the whole vocabulary is the cost. Texts are batched by length bucket under a token budget,
each padded to its own bucket's width so that its vector never depends on its batch, and the encoder runs once
per batch; the head then runs per text on its own positions only, in bfloat16 where the CPU has native support.
For documents, positions
holding punctuation, stop words or special tokens, and repeats of a word piece already seen, can be left out of
the max (``skip_stopwords``): together they are 60% of all tokens, their context already flows into the other
positions through attention, and retrieval quality stays within noise of the full computation (see BENCHMARKS.md).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache

import numpy as np
import torch

from retrieve.models import SPLADE_DEFAULT, quiet_loading, splade_path


@dataclass
class SparseVec:
    """Term ids (ascending) and their positive weights."""

    terms: np.ndarray  # int32
    weights: np.ndarray  # float32

    def to_bytes(self) -> tuple[bytes, bytes]:
        return self.terms.astype("<i4").tobytes(), self.weights.astype("<f4").tobytes()

    @classmethod
    def from_bytes(cls, terms: bytes, weights: bytes) -> SparseVec:
        return cls(np.frombuffer(terms, dtype="<i4").astype(np.int32), np.frombuffer(weights, "<f4").astype(np.float32))

    def top(self, n: int) -> list[tuple[int, float]]:
        order = np.argsort(-self.weights)[:n]
        return [(int(self.terms[i]), float(self.weights[i])) for i in order]


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run torch ops on ``n`` threads: a one-text query is faster on one thread than waiting on a pool, and
    it does not stall when another process keeps the cores busy."""
    before = torch.get_num_threads()
    if n == before:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@cache
def native_bf16() -> bool:
    """True where the CPU multiplies bfloat16 natively (AVX512-BF16 or AMX); elsewhere bf16 is emulated and slower."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as fh:
            flags = next((line for line in fh if line.startswith("flags")), "")
    except OSError:
        return False
    return any(f in flags.split() for f in ("avx512_bf16", "amx_bf16"))


def _head(model: torch.nn.Module) -> torch.nn.Module | None:
    """The module that maps hidden states to vocabulary logits, when the architecture has one."""
    for name in ("cls", "lm_head"):
        head = getattr(model, name, None)
        if isinstance(head, torch.nn.Module):
            return head
    return None


class SpladeEncoder:
    """A SPLADE model through transformers' ``AutoModelForMaskedLM``; ``name`` is a local path or hub name."""

    def __init__(self, name: str = SPLADE_DEFAULT, max_length: int = 512, batch_tokens: int = 4096,
                 dtype: str = "auto", min_weight: float = 0.01, skip_stopwords: bool = True):
        from transformers import AutoModelForMaskedLM, AutoTokenizer

        path = splade_path(name)
        self.name = name
        quiet_loading()
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForMaskedLM.from_pretrained(path).eval()
        self.max_length = min(max_length, getattr(self.tokenizer, "model_max_length", max_length) or max_length)
        self.batch_tokens = batch_tokens
        self.min_weight = min_weight
        self.bf16 = native_bf16() if dtype == "auto" else dtype == "bfloat16"
        self.vocab_size = int(self.model.config.vocab_size)
        self._head = _head(self.model)
        self._base = self.model.base_model
        self._lock = threading.Lock()  # one forward at a time: torch already uses every core
        special = set(self.tokenizer.all_special_ids)
        self._keep = torch.ones(self.vocab_size, dtype=torch.bool)
        self._keep[sorted(i for i in special if 0 <= i < self.vocab_size)] = False
        self.skip_stopwords = skip_stopwords
        self._skip = torch.zeros(self.vocab_size + 1, dtype=torch.bool)
        if skip_stopwords:
            from spacy.lang.en.stop_words import STOP_WORDS

            vocab = self.tokenizer.get_vocab()
            skip = {vocab[w] for w in STOP_WORDS if w in vocab} | special
            skip |= {i for w, i in vocab.items() if len(w) == 1 and not w.isalnum()}
            self._skip[sorted(i for i in skip if 0 <= i < self.vocab_size)] = True

    @property
    def identity(self) -> str:
        """Tags stored vectors: vectors from another model or truncation are stale."""
        return f"splade:{self.name}:{self.max_length}" + (":content1" if self.skip_stopwords else "")

    def encode_documents(self, texts: Sequence[str]) -> list[SparseVec]:
        return self._encode(texts, self.skip_stopwords)

    def encode_queries(self, texts: Sequence[str]) -> list[SparseVec]:
        """Queries are short: every position counts, and one thread is faster than the pool."""
        with torch_threads(1 if len(texts) == 1 else torch.get_num_threads()):
            return self._encode(texts, False)

    def token(self, term: int) -> str:
        return str(self.tokenizer.convert_ids_to_tokens(int(term)))

    def _encode(self, texts: Sequence[str], skip: bool) -> list[SparseVec]:
        if not texts:
            return []
        ids = self.tokenizer(list(texts), truncation=True, max_length=self.max_length, add_special_tokens=True)[
            "input_ids"]
        # Every text is padded to its own bucket width (its length rounded up to 32 tokens), never to its batch's
        # longest: a text's vector is then the same whichever texts it is encoded with, so an incrementally built
        # index equals a rebuilt one bit for bit.
        def width(i: int) -> int:
            return min(-(-len(ids[i]) // 32) * 32, self.max_length)

        order = sorted(range(len(texts)), key=lambda i: (width(i), len(ids[i])))
        out: list[SparseVec | None] = [None] * len(texts)
        start = 0
        with self._lock, torch.inference_mode():
            while start < len(order):
                end, w = start + 1, width(order[start])
                while end < len(order) and width(order[end]) == w and w * (end - start + 1) <= self.batch_tokens:
                    end += 1
                batch = [ids[i] for i in order[start:end]]
                for i, vec in zip(order[start:end], self._forward(batch, skip, w)):
                    out[i] = vec
                start = end
        return out  # type: ignore[return-value]

    def _content_positions(self, ids: list[int]) -> torch.Tensor:
        """First occurrence of each content word piece: a repeat's logits add little to the max."""
        seen: set[int] = set()
        keep = []
        for i, t in enumerate(ids):
            if not self._skip[t] and t not in seen:
                seen.add(t)
                keep.append(i)
        return torch.tensor(keep) if keep else torch.arange(len(ids))

    def _forward(self, batch: list[list[int]], skip: bool, width: int | None = None) -> list[SparseVec]:
        width = width or max(len(x) for x in batch)
        input_ids = torch.zeros((len(batch), width), dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for r, x in enumerate(batch):
            input_ids[r, : len(x)] = torch.tensor(x)
            mask[r, : len(x)] = 1
        rows = []
        if self._head is not None:
            # The encoder runs in float32: bfloat16 attention over a padded batch makes a text's hidden states
            # depend on the other texts in its batch, which would break bit-for-bit equal incremental indexes.
            # The vocabulary head, most of the cost, runs per text and so may use bfloat16.
            hidden = self._base(input_ids=input_ids, attention_mask=mask).last_hidden_state
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
                for r, x in enumerate(batch):
                    positions = torch.arange(len(x))
                    if skip:
                        positions = self._content_positions(x)
                    rows.append(self._head(hidden[r, positions]).amax(dim=0).float())
        else:
            logits = self.model(input_ids=input_ids, attention_mask=mask).logits.float()
            rows = list(logits.masked_fill(~mask.bool().unsqueeze(-1), float("-inf")).amax(dim=1))
        vecs = []
        for row in rows:
            weights = torch.log1p(torch.relu(row)) * self._keep
            nz = torch.nonzero(weights > self.min_weight).squeeze(1)
            vecs.append(SparseVec(nz.numpy().astype(np.int32), weights[nz].numpy().astype(np.float32)))
        return vecs
