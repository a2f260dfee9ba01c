"""Sentence-aware chunking with exact character offsets into the document text.

The split is LangChain's ``RecursiveCharacterTextSplitter`` (separators kept at the end of each piece, chunks
stripped), computed on offsets instead of strings: every chunk is ``text[start_char:end_char]`` by construction,
pieces are merged through a queue rather than list copies, and a run with no separator at all is cut into
windows directly instead of into one string per character. Time is linear in the text and memory beyond the
chunks themselves is bounded by the chunk size, so a 30 MB line with no space in it splits like any other text.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from store.records import ChunkRecord

# Paragraphs first, then lines, then sentence ends; words and characters only for run-on text.
SEPARATORS = ["\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ", ""]

Span = tuple[int, int]


@dataclass
class ChunkConfig:
    size: int = 1200  # characters
    overlap: int = 150

    def __post_init__(self) -> None:
        if self.size < 50:
            raise ValueError("chunk size must be at least 50 characters")
        if not 0 <= self.overlap < self.size:
            raise ValueError("chunk overlap must be between 0 and the chunk size")


class Chunker:
    """Splits at paragraph and sentence boundaries into chunks of at most ``size`` characters."""

    def __init__(self, config: ChunkConfig | None = None):
        self.config = config or ChunkConfig()

    def split(self, text: str) -> list[ChunkRecord]:
        if len(text) <= self.config.size:
            return [ChunkRecord(0, text, 0, len(text))]
        return [ChunkRecord(i, text[a:b], a, b) for i, (a, b) in enumerate(self.spans(text))]

    def spans(self, text: str) -> Iterator[Span]:
        """The (start, end) of each chunk, in order; each chunk is stripped of surrounding whitespace."""
        return self._split(text, 0, len(text), SEPARATORS)

    def _split(self, text: str, a: int, b: int, separators: list[str]) -> Iterator[Span]:
        size, overlap = self.config.size, self.config.overlap
        i = next(i for i, s in enumerate(separators) if not s or text.find(s, a, b) >= 0)
        sep, rest = separators[i], separators[i + 1:]
        if not sep or not rest:  # nothing left to split at: fixed windows, as merging single characters gives
            yield from _windows(text, a, b, size, overlap)
            return
        # Pieces shorter than a chunk are merged, keeping at most ``overlap`` characters of whole pieces from
        # the previous chunk; a longer piece is split with the next separators.
        run: deque[Span] = deque()
        total, pos, n = 0, a, len(sep)
        while pos < b:
            j = text.find(sep, pos, b)
            end = b if j < 0 else j + n
            length = end - pos
            if length < size:
                if total + length > size:
                    yield from _stripped(text, run[0][0], run[-1][1])
                    while total > overlap or (total + length > size and total > 0):
                        x, y = run.popleft()
                        total -= y - x
                run.append((pos, end))
                total += length
            else:
                if run:
                    yield from _stripped(text, run[0][0], run[-1][1])
                    run.clear()
                    total = 0
                yield from self._split(text, pos, end, rest)
            pos = end
        if run:
            yield from _stripped(text, run[0][0], run[-1][1])


def _windows(text: str, a: int, b: int, size: int, overlap: int) -> Iterator[Span]:
    start = a
    while True:
        end = min(start + size, b)
        yield from _stripped(text, start, end)
        if end >= b:
            return
        start += size - overlap


def _stripped(text: str, a: int, b: int) -> Iterator[Span]:
    """The span without its leading and trailing whitespace, unless nothing is left."""
    s = text[a:b]
    left = s.lstrip()
    if kept := left.rstrip():
        start = b - len(left)
        yield start, start + len(kept)
