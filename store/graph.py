"""networkx views of the store: the entity graph for export and algorithms, and the entity-chunk graph."""

from __future__ import annotations

import networkx as nx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store.read import LIVE, mention_counts
from store.schema import Chunk, Entity, Mention, Relation


def entity_graph(session: Session) -> nx.MultiDiGraph:
    """Live entities as nodes, relations as keyed edges (one per predicate) with their weight."""
    g = nx.MultiDiGraph()
    counts = mention_counts(session)
    for i, name, typ, kb in session.execute(select(Entity.id, Entity.name, Entity.type, Entity.kb_id).where(LIVE)):
        g.add_node(i, name=name, type=typ, mentions=counts.get(i, 0), kb_id=kb or "")
    for h, t, p, w in session.execute(
        select(Relation.head_id, Relation.tail_id, Relation.predicate, Relation.weight)
        .where(Relation.head_id != Relation.tail_id)
    ):
        if h in g and t in g:
            g.add_edge(h, t, key=p, predicate=p, weight=float(w))
    return g


def entity_chunk_graph(session: Session) -> nx.Graph:
    """Bipartite graph: entity nodes ("e", id) linked to chunk nodes ("c", id) by mention counts."""
    g = nx.Graph()
    rows = session.execute(
        select(Mention.entity_id, Mention.chunk_id, func.count()).group_by(Mention.entity_id, Mention.chunk_id)
    )
    for e, c, n in rows:
        g.add_edge(("e", e), ("c", c), weight=float(n))
    for c, d in session.execute(select(Chunk.id, Chunk.document_id)):
        if ("c", c) in g:
            g.nodes[("c", c)]["document"] = d
    return g


def export_graph(session: Session) -> nx.MultiDiGraph:
    """The entity graph with what a user inspects, for other tools: nodes carry ``label`` (the name), type, KB id,
    description, mention and document counts; edges a unique id (``r`` and the relation's id), the predicate,
    the weight, and the first evidence sentence with its document's title."""
    from store.schema import Document, RelationEvidence

    g = nx.MultiDiGraph()
    counts = mention_counts(session)
    docs: dict[int, int] = {e: n for e, n in session.execute(
        select(Mention.entity_id, func.count(func.distinct(Chunk.document_id)))
        .join(Chunk, Chunk.id == Mention.chunk_id).group_by(Mention.entity_id))}
    for i, name, typ, kb, desc in session.execute(
            select(Entity.id, Entity.name, Entity.type, Entity.kb_id, Entity.description).where(LIVE)):
        g.add_node(i, label=name, name=name, type=typ, kb_id=kb or "", description=desc or "",
                   mentions=counts.get(i, 0), documents=docs.get(i, 0))
    first = select(func.min(RelationEvidence.id)).group_by(RelationEvidence.relation_id).scalar_subquery()
    evidence = {r: (text[a:b], title) for r, text, a, b, title in session.execute(
        select(RelationEvidence.relation_id, Chunk.text, RelationEvidence.sent_start, RelationEvidence.sent_end,
               Document.title)
        .join(Chunk, Chunk.id == RelationEvidence.chunk_id).join(Document, Document.id == Chunk.document_id)
        .where(RelationEvidence.id.in_(first)))}
    for r, h, t, p, w in session.execute(
            select(Relation.id, Relation.head_id, Relation.tail_id, Relation.predicate, Relation.weight)
            .where(Relation.head_id != Relation.tail_id)):
        if h in g and t in g:
            sentence, title = evidence.get(r, ("", ""))
            g.add_edge(h, t, key=f"r{r}", label=p, predicate=p, weight=float(w), evidence=" ".join(sentence.split()),
                       evidence_document=title)
    return g
