"""Named-entity recognition with spaCy, streamed in batches with only the pipes a stage needs."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import warnings
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy
import spacy
from spacy.language import Language
from spacy.tokens import Doc

from extract.config import DEFAULT_MODEL, ENTITY_LABELS

_ALL_PIPES = ("tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "ner", "senter")


def _cache_msgpack_decoders() -> None:
    """Docs come back from spaCy's worker processes as msgpack, and srsly looks its decoders up in the
    entry-point registry on every unpack: about a millisecond per Doc, all of it in the main process. The
    decoders are registered when srsly is imported and do not change afterwards, so look them up once."""
    import srsly.msgpack as sm

    registry = sm.msgpack_decoders
    if getattr(registry, "_kg_cached", False):
        return
    decoders = registry.get_all()
    registry.get_all = lambda: dict(decoders)  # type: ignore[method-assign]
    registry._kg_cached = True  # type: ignore[attr-defined]


def _workers_leave_ctrl_c_to_the_parent() -> None:
    """spaCy's worker processes are forked from this one; Ctrl-C reaches the whole process group, and a worker
    that took it would die with a traceback mid-batch. Workers ignore it instead: the parent stops the pipe,
    which sends them their end-of-work signal."""
    if not getattr(_workers_leave_ctrl_c_to_the_parent, "done", False):
        os.register_at_fork(after_in_child=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
        _workers_leave_ctrl_c_to_the_parent.done = True  # type: ignore[attr-defined]


@contextmanager
def _stop_workers_on_ctrl_c() -> Iterator[None]:
    """On Ctrl-C, stop spaCy's worker processes before raising KeyboardInterrupt: spaCy's own clean-up joins
    them, and a worker blocked sending a batch nobody reads would never exit (another worker holds the pipe's
    read end open). Only the main thread can take the signal; elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def interrupted(signum: int, frame: Any) -> None:
        for proc in multiprocessing.active_children():
            proc.terminate()
        signal.default_int_handler(signum, frame)

    signal.signal(signal.SIGINT, interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@Language.component("kg_drop_tensor")
def drop_tensor(doc: Doc) -> Doc:
    """Drop tok2vec's per-token vectors once the pipes have used them: later stages never read them, and a
    Doc without them is a quarter of the size to send back from a worker process."""
    doc.tensor = _EMPTY
    return doc


_EMPTY = numpy.zeros((0,), dtype="float32")


def load_pipeline(model: str = DEFAULT_MODEL, parser: bool = True) -> Language:
    """Load a spaCy pipeline with NER plus either the dependency parser or the cheaper sentence splitter."""
    keep = {"tok2vec", "ner", "parser" if parser else "senter"}
    nlp = spacy.load(model, exclude=[p for p in _ALL_PIPES if p not in keep])
    if not parser and "senter" in nlp.disabled:
        nlp.enable_pipe("senter")
    if not nlp.has_pipe("ner"):
        raise ValueError(f"spaCy model {model!r} has no 'ner' pipe")
    nlp.add_pipe("kg_drop_tensor", last=True)
    return nlp


def default_processes() -> int:
    """One spaCy worker per available core, at most four (more rarely pays for their memory)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


class NER:
    """The NER stage: streams texts through spaCy once and hands back parsed Docs in order."""

    name = "ner"

    def __init__(self, model: str = DEFAULT_MODEL, parser: bool = True, batch_size: int = 64,
                 n_process: int = 0, labels: frozenset[str] = ENTITY_LABELS):
        self.nlp = load_pipeline(model, parser)
        self.parser = parser
        self.batch_size = batch_size
        self.n_process = n_process
        self.labels = labels
        self.n_process_hint: int | None = None  # how many texts are coming, when the caller knows

    def pipe(self, items: Iterable[tuple[str, Any]]) -> Iterator[tuple[Doc, Any]]:
        n_process = self.n_process or default_processes()
        if self.n_process_hint is not None and self.n_process_hint < 2 * self.batch_size:
            n_process = 1  # starting worker processes costs more than it saves on small inputs
        # Contexts stay in this process: spaCy's as_tuples would tokenize and serialise every text here before
        # sending it to the workers. nlp.pipe keeps order, so the contexts line up with the Docs.
        contexts: deque[Any] = deque()

        def texts() -> Iterator[str]:
            for text, ctx in items:
                contexts.append(ctx)
                yield text

        if n_process == 1:
            for doc in self.nlp.pipe(texts(), batch_size=self.batch_size):
                yield doc, contexts.popleft()
            return
        _cache_msgpack_decoders()
        _workers_leave_ctrl_c_to_the_parent()
        with _stop_workers_on_ctrl_c(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*\[W127\]")  # workers we stopped did not finish cleanly
            for doc in self.nlp.pipe(texts(), batch_size=self.batch_size, n_process=n_process):
                yield doc, contexts.popleft()
