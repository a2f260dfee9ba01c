"""Sentence-aware chunking with exact character offsets into the document text."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from langchain_text_splitters import RecursiveCharacterTextSplitter

from store.records import ChunkRecord

# Paragraphs first, then lines, then sentence ends; words and characters only for run-on text.
SEPARATORS = ["\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ", ""]


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
        self.config = cfg = config or ChunkConfig()
        self._splitter = RecursiveCharacterTextSplitter(
            chunk_size=cfg.size, chunk_overlap=cfg.overlap, separators=SEPARATORS, keep_separator="end",
            strip_whitespace=True,
        )

    def split(self, text: str) -> list[ChunkRecord]:
        if len(text) <= self.config.size:
            return [ChunkRecord(0, text, 0, len(text))]
        chunks = self._splitter.split_text(text)
        starts = place_chunks(text, chunks, self.config.overlap)
        return [ChunkRecord(i, c, a, a + len(c)) for i, (c, a) in enumerate(zip(chunks, starts))]


def place_chunks(text: str, chunks: list[str], overlap: int) -> list[int]:
    """The start offset of each chunk in ``text``.

    The splitter's own start index takes the first copy of a chunk's text after the previous chunk's end minus
    the overlap; in text that repeats itself that can be the wrong copy, and text after it then falls in no
    chunk. Here each chunk starts no earlier than the previous one, at most ``overlap`` characters before its
    end and no later than the next non-space character after it (no text is skipped), and the last chunk reaches
    the end of the text. Copies are tried earliest first, backtracking out of dead ends (remembered, so the
    search stays linear in practice).
    """
    n = len(chunks)
    if n == 0:
        return []
    last = len(text.rstrip())

    def next_text(i: int) -> int:
        while i < len(text) and text[i].isspace():
            i += 1
        return i

    def candidates(level: int, prev_start: int, prev_end: int) -> Iterator[int]:
        lo = 0 if level == 0 else max(prev_start, prev_end - overlap)
        hi = next_text(prev_end)
        chunk = chunks[level]
        s = text.find(chunk, lo, hi + len(chunk))
        while s >= 0:
            yield s
            s = text.find(chunk, s + 1, hi + len(chunk))

    dead: set[tuple[int, int]] = set()
    starts: list[int] = []
    stack = [candidates(0, 0, 0)]
    while stack:
        level = len(stack) - 1
        s = next(stack[-1], None)
        if s is None:
            stack.pop()
            if starts:
                dead.add((level - 1, starts.pop()))
            continue
        if (level, s) in dead:
            continue
        end = s + len(chunks[level])
        if level == n - 1:
            if end >= last:
                return [*starts, s]
            continue
        starts.append(s)
        stack.append(candidates(level + 1, s, end))
    raise ValueError("the splitter's chunks do not tile the text")
