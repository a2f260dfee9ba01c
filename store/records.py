"""Plain records that describe one document's contribution, written to the store in one transaction.

Entity references are ints: a positive value is an existing entity id, a negative value is the key of a
``NewEntity`` created by this same document.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ChunkRecord:
    ord: int
    text: str
    start_char: int
    end_char: int


@dataclass
class NewEntity:
    """A document-local entity; linking across documents happens in the store (``store.resolve``)."""

    key: int  # negative, unique within the document
    name: str
    type: str
    description: str | None = None
    norm: str = ""  # the normalised name: locals with the same one form a block
    is_title: bool = False


@dataclass
class MentionRecord:
    chunk_ord: int
    start: int
    end: int
    surface: str
    label: str
    source: str
    confidence: float
    sent_start: int
    sent_end: int
    entity: int


@dataclass
class AliasRecord:
    entity: int
    alias: str
    norm: str
    source: str
    chunk_ord: int | None


@dataclass
class EvidenceRecord:
    head_mention: int  # index into DocumentRecord.mentions
    tail_mention: int
    predicate: str
    chunk_ord: int
    sent_start: int
    sent_end: int


@dataclass
class DocumentRecord:
    source: str
    title: str
    content_hash: str
    n_chars: int
    meta: dict = field(default_factory=dict)
    chunks: list[ChunkRecord] = field(default_factory=list)
    new_entities: list[NewEntity] = field(default_factory=list)
    mentions: list[MentionRecord] = field(default_factory=list)
    aliases: list[AliasRecord] = field(default_factory=list)
    evidence: list[EvidenceRecord] = field(default_factory=list)
    about_entity: int | None = None
    names: list[str] = field(default_factory=list)  # names its NER found, for everyone's gazetteer
    title_names_entity: bool = True


@dataclass
class KBEntity:
    kb_id: str
    name: str
    type: str
    description: str | None
    aliases: list[str]


@dataclass
class WriteResult:
    document_id: int
    n_entities_new: int
    n_chunks: int
    n_mentions: int
    n_relations_new: int
