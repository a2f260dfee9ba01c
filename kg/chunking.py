"""Sentence-aware chunking with exact character offsets into the document text."""

from __future__ import annotations

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
        # Offsets are found here rather than with the splitter's add_start_index, which takes the first copy of a
        # chunk's text found from the previous chunk's end minus the overlap: in text that repeats itself that
        # can be an earlier copy (even the previous chunk's own span), and the text after it was then in no
        # chunk. A chunk starts no earlier than the previous one, at most ``overlap`` characters before the
        # previous one's end, and reaches past that end: the first copy that does all three is the chunk.
        out: list[ChunkRecord] = []
        prev_start, prev_end = 0, 0
        for i, chunk in enumerate(self._splitter.split_text(text)):
            start = text.find(chunk, max(prev_start, prev_end - self.config.overlap))
            while start >= 0 and start + len(chunk) <= prev_end:
                start = text.find(chunk, start + 1)
            if start < 0:  # not expected; still never give offsets that do not match the text
                start = text.find(chunk, prev_start)
            if start < 0:
                raise ValueError(f"chunk {i} is not a substring of the text after offset {prev_start}")
            out.append(ChunkRecord(i, chunk, start, start + len(chunk)))
            prev_start, prev_end = start, start + len(chunk)
        return out
