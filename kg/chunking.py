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
            add_start_index=True, strip_whitespace=True,
        )

    def split(self, text: str) -> list[ChunkRecord]:
        if len(text) <= self.config.size:
            return [ChunkRecord(0, text, 0, len(text))]
        out = []
        for i, d in enumerate(self._splitter.create_documents([text])):
            start = d.metadata["start_index"]
            out.append(ChunkRecord(i, d.page_content, start, start + len(d.page_content)))
        return out
