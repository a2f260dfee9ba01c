"""Shared pieces of the benchmarks: dataset lookup and peak-memory sampling of a process tree."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import psutil

from kg.api import KGError


def find_file(dataset: str | Path, *names: str) -> Path:
    """The dataset file: ``dataset`` itself, or the first of ``names`` inside that folder."""
    p = Path(dataset)
    if p.is_file():
        return p
    for n in names:
        if (p / n).is_file():
            return p / n
    raise KGError(f"{p}: expected a file or a folder holding one of {', '.join(names)}")


def read_jsonl(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    rows = []
    try:
        with path.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if line.strip():
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as e:
                        raise KGError(f"{path}:{n}: malformed JSON ({e.msg})") from None
                    if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                        raise KGError(f'{path}:{n}: expected an object with a string "text"')
                    rows.append(row)
                    if limit and len(rows) >= limit:
                        break
    except (OSError, UnicodeDecodeError) as e:
        raise KGError(f"{path}: cannot read ({e})") from None
    return rows


def percentile_ms(seconds: Sequence[float], q: float) -> float:
    import numpy as np

    return round(float(np.percentile(np.asarray(seconds) * 1000.0, q)), 2)


def bare_ner(model: str) -> Any:
    """The peer both benchmarks compare against: spaCy with its tokenizer, tok2vec and NER only."""
    import spacy

    return spacy.load(model, exclude=["tagger", "parser", "attribute_ruler", "lemmatizer", "senter"])


def bare_entities(texts: Iterable[str], model: str, labels: frozenset[str], processes: int
                  ) -> list[list[tuple[int, int, str, str]]]:
    """The bare NER peer's entities of ``labels`` in each text: (start, end, text, label)."""
    nlp = bare_ner(model)
    return [[(e.start_char, e.end_char, e.text, e.label_) for e in doc.ents if e.label_ in labels]
            for doc in nlp.pipe(texts, batch_size=64, n_process=processes)]


class PeakRSS:
    """Samples the resident memory of this process plus its children (spaCy workers) in a thread."""

    def __init__(self, interval: float = 0.05):
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        me = psutil.Process()
        total = me.memory_info().rss
        for child in me.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                total += child.memory_info().rss
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            time.sleep(self.interval)

    def __enter__(self) -> PeakRSS:
        self.peak = self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._sample())

    @property
    def mib(self) -> float:
        return self.peak / 2**20
