"""The knowledge-graph schema: SQLAlchemy 2.0 typed ORM models on SQLite.

Every row that a document contributes (chunks, mentions, aliases, relation evidence) hangs off a chunk with
ON DELETE CASCADE, so removing a document removes exactly its contribution.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String, unique=True)
    title: Mapped[str] = mapped_column(String)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    meta: Mapped[dict] = mapped_column("metadata", JSON, default=dict)
    n_chars: Mapped[int] = mapped_column(Integer)
    about_entity_id: Mapped[int | None] = mapped_column(
        ForeignKey("entities.id", ondelete="SET NULL"), index=True
    )
    # The title names what the document is about (false for a file whose title is only its file name).
    title_names_entity: Mapped[bool] = mapped_column(default=True, server_default="1")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)

    chunks: Mapped[list[Chunk]] = relationship(
        back_populates="document", cascade="all, delete-orphan", passive_deletes=True, order_by="Chunk.ord"
    )


class Chunk(Base):
    __tablename__ = "chunks"
    __table_args__ = (UniqueConstraint("document_id", "ord"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    ord: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    start_char: Mapped[int] = mapped_column(Integer)
    end_char: Mapped[int] = mapped_column(Integer)

    document: Mapped[Document] = relationship(back_populates="chunks")


class Entity(Base):
    __tablename__ = "entities"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String, index=True)
    type: Mapped[str] = mapped_column(String(32), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    kb_id: Mapped[str | None] = mapped_column(String, unique=True)
    # Set when a user merge folded this entity into another; unmerge clears it.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("entities.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class LocalEntity(Base):
    """One document's view of an entity: the mentions it links to one name, before linking across documents.

    Linking across documents is a function of the set of these rows: those whose names normalise alike (a
    *block*) are clustered by type and description, and each cluster is one entity. ``entity_id`` is that
    entity; mentions and aliases carry the entity they resolve to after user merges.
    """

    __tablename__ = "local_entities"

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String)
    norm: Mapped[str] = mapped_column(String, index=True)
    type: Mapped[str] = mapped_column(String(32))
    description: Mapped[str | None] = mapped_column(Text)
    is_title: Mapped[bool] = mapped_column(default=False)
    entity_id: Mapped[int | None] = mapped_column(ForeignKey("entities.id", ondelete="SET NULL"), index=True)


class DocumentName(Base):
    """A name a document's own NER found (or its title): the gazetteer is every document's names."""

    __tablename__ = "document_names"

    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String, primary_key=True, index=True)


class RelinkQueue(Base):
    """Documents whose links may be stale because the gazetteer's names changed; written in the transaction
    that changed them, so a crash leaves the work recorded."""

    __tablename__ = "relink_queue"

    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True)


class Alias(Base):
    """A name an entity goes by, with where it was seen (chunk) or that it came from a KB or a user."""

    __tablename__ = "aliases"
    __table_args__ = (Index("ix_aliases_entity_norm", "entity_id", "norm"),
                      Index("ix_aliases_source_alias", "source", "alias"),
                      Index("ix_aliases_source_norm", "source", "norm"))

    id: Mapped[int] = mapped_column(primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id", ondelete="CASCADE"))
    alias: Mapped[str] = mapped_column(String)
    norm: Mapped[str] = mapped_column(String, index=True)
    source: Mapped[str] = mapped_column(String(16))  # mention | title | kb | user
    chunk_id: Mapped[int | None] = mapped_column(ForeignKey("chunks.id", ondelete="CASCADE"), index=True)
    local_id: Mapped[int | None] = mapped_column(ForeignKey("local_entities.id", ondelete="CASCADE"), index=True)


class Mention(Base):
    __tablename__ = "mentions"
    __table_args__ = (Index("ix_mentions_entity_chunk", "entity_id", "chunk_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    chunk_id: Mapped[int] = mapped_column(ForeignKey("chunks.id", ondelete="CASCADE"), index=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id", ondelete="CASCADE"))
    start: Mapped[int] = mapped_column(Integer)  # character offsets within the chunk text
    end: Mapped[int] = mapped_column(Integer)
    surface: Mapped[str] = mapped_column(String)
    label: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))  # ner | gazetteer | title | surname
    confidence: Mapped[float] = mapped_column(Float)
    sent_start: Mapped[int] = mapped_column(Integer)
    sent_end: Mapped[int] = mapped_column(Integer)
    local_id: Mapped[int | None] = mapped_column(ForeignKey("local_entities.id", ondelete="CASCADE"), index=True)


class Relation(Base):
    """An edge between two entities; weight is the number of evidence sentences behind it."""

    __tablename__ = "relations"
    __table_args__ = (UniqueConstraint("head_id", "tail_id", "predicate"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    head_id: Mapped[int] = mapped_column(ForeignKey("entities.id", ondelete="CASCADE"), index=True)
    tail_id: Mapped[int] = mapped_column(ForeignKey("entities.id", ondelete="CASCADE"), index=True)
    predicate: Mapped[str] = mapped_column(String(64))
    weight: Mapped[float] = mapped_column(Float, default=0.0)


class RelationEvidence(Base):
    """One sentence that supports a relation, pinned to its chunk and the two mentions it links."""

    __tablename__ = "relation_evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    relation_id: Mapped[int] = mapped_column(ForeignKey("relations.id", ondelete="CASCADE"), index=True)
    chunk_id: Mapped[int] = mapped_column(ForeignKey("chunks.id", ondelete="CASCADE"), index=True)
    head_mention_id: Mapped[int] = mapped_column(ForeignKey("mentions.id", ondelete="CASCADE"), index=True)
    tail_mention_id: Mapped[int] = mapped_column(ForeignKey("mentions.id", ondelete="CASCADE"), index=True)
    predicate: Mapped[str] = mapped_column(String(64))
    sent_start: Mapped[int] = mapped_column(Integer)
    sent_end: Mapped[int] = mapped_column(Integer)


class MergeLog(Base):
    """A user merge or unmerge, with what moved, so that a merge can be undone exactly."""

    __tablename__ = "merge_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    action: Mapped[str] = mapped_column(String(16))  # merge | unmerge | dissolved | unfuse | allow
    kept_id: Mapped[int] = mapped_column(Integer, index=True)
    merged_id: Mapped[int] = mapped_column(Integer, index=True)
    kept_name: Mapped[str] = mapped_column(String)
    merged_name: Mapped[str] = mapped_column(String)
    moved: Mapped[dict] = mapped_column(JSON, default=dict)
    undone: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class ChunkVector(Base):
    """A chunk's sparse word-piece vector (term ids and weights as little-endian arrays) from ``encoder``."""

    __tablename__ = "chunk_vectors"

    chunk_id: Mapped[int] = mapped_column(ForeignKey("chunks.id", ondelete="CASCADE"), primary_key=True)
    encoder: Mapped[str] = mapped_column(String)
    terms: Mapped[bytes] = mapped_column(LargeBinary)  # int32
    weights: Mapped[bytes] = mapped_column(LargeBinary)  # float32


class ChunkEmbedding(Base):
    """A chunk's dense embedding (float32 array) from ``encoder``."""

    __tablename__ = "chunk_embeddings"

    chunk_id: Mapped[int] = mapped_column(ForeignKey("chunks.id", ondelete="CASCADE"), primary_key=True)
    encoder: Mapped[str] = mapped_column(String)
    vector: Mapped[bytes] = mapped_column(LargeBinary)


class EntityEmbedding(Base):
    """An entity's dense embedding of ``text`` (its name and type); stale once the name changes."""

    __tablename__ = "entity_embeddings"

    entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id", ondelete="CASCADE"), primary_key=True)
    encoder: Mapped[str] = mapped_column(String)
    text: Mapped[str] = mapped_column(String)
    vector: Mapped[bytes] = mapped_column(LargeBinary)


class IndexState(Base):
    """One row: a counter that every change to the search index's inputs bumps (triggers, migration 0004), and
    the generation of the persisted index built from the store."""

    __tablename__ = "index_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    generation: Mapped[str | None] = mapped_column(String)


class IndexChange(Base):
    """A chunk (kind 1) or entity (kind 2) whose index data changed since the persisted index was built."""

    __tablename__ = "index_changes"
    __table_args__ = {"sqlite_with_rowid": False}

    kind: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[int] = mapped_column(Integer, primary_key=True)


class LocalEntityCount(Base):
    """How many document-local entities of a name block share a name, type, description and entity (triggers,
    migration 0005): what re-clustering a block reads."""

    __tablename__ = "local_entity_counts"
    __table_args__ = {"sqlite_with_rowid": False}

    norm: Mapped[str] = mapped_column(String, primary_key=True)
    type: Mapped[str] = mapped_column(String(32), primary_key=True)
    description: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(String, primary_key=True)
    entity_id: Mapped[int] = mapped_column(Integer, primary_key=True)  # 0 for none
    is_title: Mapped[bool] = mapped_column(Boolean, primary_key=True)  # the document's "about" entity (0006)
    n: Mapped[int] = mapped_column(Integer)


class NameKey(Base):
    """A name filed under each run of its words ('w') and its acronym ('a'): the longer names that hold a short
    one, found by an index probe (migration 0006)."""

    __tablename__ = "name_keys"
    __table_args__ = (Index("ix_name_keys_norm", "norm"), {"sqlite_with_rowid": False})

    part: Mapped[str] = mapped_column(String, primary_key=True)
    kind: Mapped[str] = mapped_column(String(1), primary_key=True)
    norm: Mapped[str] = mapped_column(String, primary_key=True)


class NameRedirect(Base):
    """A short name that folds into the one longer name holding or abbreviating it, with the rule that decided it
    and how many names were weighed."""

    __tablename__ = "name_redirects"
    __table_args__ = (Index("ix_name_redirects_target", "target"), {"sqlite_with_rowid": False})

    norm: Mapped[str] = mapped_column(String, primary_key=True)
    target: Mapped[str] = mapped_column(String)
    rule: Mapped[str] = mapped_column(String(16))
    candidates: Mapped[int] = mapped_column(Integer)


class FusionVeto(Base):
    """A fold of one name into another that a user undid: it is not made again."""

    __tablename__ = "fusion_vetoes"
    __table_args__ = {"sqlite_with_rowid": False}

    norm: Mapped[str] = mapped_column(String, primary_key=True)
    target: Mapped[str] = mapped_column(String, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_now)


class FusionPin(Base):
    """A fold of a name the rules left ambiguous, decided by a judge (an LLM through ``kg fuse``): made while
    that name is still one of the candidates."""

    __tablename__ = "fusion_pins"
    __table_args__ = {"sqlite_with_rowid": False}

    norm: Mapped[str] = mapped_column(String, primary_key=True)
    target: Mapped[str] = mapped_column(String)
    source: Mapped[str] = mapped_column(String)  # who decided: "llm:MODEL"
    created_at: Mapped[datetime] = mapped_column(DateTime, default=_now)


class StoreSetting(Base):
    """A setting the store's contents were made with (chunking, the spaCy model, the word-piece encoder)."""

    __tablename__ = "store_settings"
    __table_args__ = {"sqlite_with_rowid": False}

    key: Mapped[str] = mapped_column(String, primary_key=True)
    value: Mapped[str] = mapped_column(String)
