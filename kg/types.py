"""Typed results of the public API; ``to_dict()`` gives what ``--json`` prints."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

EXPORT_FORMATS = ("graphml", "gexf", "json", "csv", "cypher")


class _Dict:
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]


@dataclass
class FileError(_Dict):
    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass
class IngestReport(_Dict):
    documents: int = 0  # added or replaced
    replaced: int = 0
    skipped: int = 0
    chunks: int = 0
    mentions: int = 0
    entities: int = 0  # entities the graph gained (new ones less those a type vote folded into another)
    relations: int = 0  # relations the graph gained (new ones less those folded by a type vote)
    relinked: int = 0  # stored documents re-linked because the names the store knows changed
    deleted: int = 0  # documents a sync removed because their files are gone
    seconds: float = 0.0
    errors: list[FileError] = field(default_factory=list)
    # Files left out or read with a caveat, which do not fail the ingest: links out of a folder, devices and
    # pipes inside one, parser warnings.
    warnings: list[FileError] = field(default_factory=list)
    skipped_sources: list[str] = field(default_factory=list)
    dissolved_merges: list[dict[str, Any]] = field(default_factory=list)  # user merges this command ended

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class DeleteReport(_Dict):
    documents: list[str] = field(default_factory=list)  # sources removed
    chunks: int = 0
    mentions: int = 0
    entities: int = 0  # entities removed with them
    relations: int = 0  # relations removed with them
    relinked: int = 0
    seconds: float = 0.0
    dissolved_merges: list[dict[str, Any]] = field(default_factory=list)  # user merges this command ended


@dataclass
class SyncPlan(_Dict):
    """What ``ingest --sync`` does to make the store match a folder."""

    add: list[str] = field(default_factory=list)
    replace: list[str] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    unchanged: int = 0
    errors: list[FileError] = field(default_factory=list)
    warnings: list[FileError] = field(default_factory=list)


@dataclass
class Stats(_Dict):
    documents: int
    chunks: int
    mentions: int
    entities: int
    aliases: int
    relations: int
    evidence: int
    merges: int
    path: str = ""


@dataclass
class DocumentInfo(_Dict):
    id: int
    source: str
    title: str
    chars: int
    chunks: int
    mentions: int
    about: str | None


@dataclass
class EntitySummary(_Dict):
    id: int
    name: str
    type: str
    mentions: int
    documents: int
    kb_id: str | None = None


@dataclass
class MentionInfo(_Dict):
    surface: str
    label: str
    source: str
    confidence: float
    document: str
    chunk_id: int
    snippet: str
    document_id: int = 0
    start: int = 0  # where the mention is in its document's text
    end: int = 0


@dataclass
class Evidence(_Dict):
    sentence: str
    document: str
    chunk_id: int
    document_id: int = 0
    start: int = 0  # where the sentence is in its document's text
    end: int = 0


@dataclass
class RelationInfo(_Dict):
    id: int
    head: str
    predicate: str
    tail: str
    weight: float
    evidence: list[Evidence]
    head_id: int = 0
    tail_id: int = 0


@dataclass
class AliasInfo(_Dict):
    alias: str
    source: str
    count: int


@dataclass
class EntityCard(_Dict):
    id: int
    name: str
    type: str
    description: str | None
    kb_id: str | None
    mention_count: int
    aliases: list[AliasInfo]
    mentions: list[MentionInfo]
    relations: list[RelationInfo]
    documents: list[dict[str, Any]]
    same_name: list[EntitySummary] = field(default_factory=list)  # other entities this name also fits
    fused: list[FusionInfo] = field(default_factory=list)  # names folded into this one across documents


@dataclass
class Neighbor(_Dict):
    id: int
    name: str
    type: str
    hops: int
    via: str  # the predicate of the edge that reached it first


@dataclass
class Neighborhood(_Dict):
    entity: EntitySummary
    hops: int
    neighbors: list[Neighbor]
    edges: list[tuple[str, str, str, float]]  # head, predicate, tail, weight


@dataclass
class FusionInfo(_Dict):
    """A name that cross-document fusion folded into a longer one, and why."""

    name: str
    into: str  # the entity it belongs to now
    rule: str  # contained | acronym
    candidates: int  # longer names weighed: all but one were of another type, or folded into that one
    documents: int
    why: str


@dataclass
class MergeInfo(_Dict):
    action: str
    kept: EntitySummary
    merged: EntitySummary
    mentions_moved: int
    aliases_moved: int
    log_id: int


@dataclass
class KBImportReport(_Dict):
    created: int
    updated: int
    errors: list[FileError] = field(default_factory=list)


@dataclass
class ExportInfo(_Dict):
    path: str
    format: str
    nodes: int
    edges: int
    files: list[str] = field(default_factory=list)  # every file written (CSV writes a nodes and an edges file)


@dataclass
class GraphView(_Dict):
    """Entities and the relations among them, by id, for drawing."""

    nodes: list[dict[str, Any]]  # id, name, type, mentions, hops (from the nearest seed), seed
    edges: list[dict[str, Any]]  # head, tail, predicate, weight


@dataclass
class DocumentView(_Dict):
    """A document's text with its mentions, each linked to its entity."""

    id: int
    source: str
    title: str
    about: int | None
    text: str
    mentions: list[dict[str, Any]]  # start, end, surface, label, entity_id, entity, type
