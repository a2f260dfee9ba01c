"""Writing the entity graph in formats other tools open as they are: GraphML (Cytoscape, yEd, graphology),
GEXF 1.2 (Gephi), node-link JSON (networkx, d3), CSV (a nodes file and an edges file) and a Cypher script
(Neo4j, Memgraph). Every format carries the same attributes (``store.graph.export_graph``)."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import networkx as nx

NODE_FIELDS = ("id", "label", "type", "kb_id", "description", "mentions", "documents")
EDGE_FIELDS = ("id", "source", "target", "predicate", "weight", "evidence", "evidence_document")


def write_graphml(g: nx.MultiDiGraph, out: Path) -> list[Path]:
    nx.write_graphml(g, out)  # edge ids are the relations' own (``r12``), unique as the format wants
    return [out]


def write_gexf(g: nx.MultiDiGraph, out: Path) -> list[Path]:
    nx.write_gexf(g, out)
    # networkx writes name="" on <graph>, which the GEXF 1.2 schema does not allow.
    text = out.read_text(encoding="utf-8")
    out.write_text(re.sub(r'(<graph\b[^>]*?) name="[^"]*"', r"\1", text, count=1), encoding="utf-8")
    return [out]


def write_json(g: nx.MultiDiGraph, out: Path) -> list[Path]:
    """Node-link JSON under the key every networkx version reads by default ("links"), written here rather than
    by ``node_link_data``, whose arguments changed between networkx releases."""
    data = {"directed": True, "multigraph": True, "graph": {},
            "nodes": [{"id": n, **d} for n, d in g.nodes(data=True)],
            "links": [{"source": h, "target": t, "key": k, **d} for h, t, k, d in g.edges(keys=True, data=True)]}
    out.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    return [out]


def csv_paths(out: Path) -> tuple[Path, Path]:
    stem = out.with_suffix("") if out.suffix.lower() == ".csv" else out
    return stem.with_name(stem.name + ".nodes.csv"), stem.with_name(stem.name + ".edges.csv")


def write_csv(g: nx.MultiDiGraph, out: Path) -> list[Path]:
    nodes, edges = csv_paths(out)
    with nodes.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(NODE_FIELDS)
        for n, d in g.nodes(data=True):
            w.writerow([n, *(d.get(k, "") for k in NODE_FIELDS[1:])])
    with edges.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(EDGE_FIELDS)
        for h, t, k, d in g.edges(keys=True, data=True):
            w.writerow([k, h, t, *(d.get(f, "") for f in EDGE_FIELDS[3:])])
    return [nodes, edges]


def _cypher_string(s: object) -> str:
    return "'" + str(s).replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r") + "'"


def _identifier(s: str) -> str:
    return re.sub(r"\W", "_", s, flags=re.ASCII).strip("_").upper() or "RELATED_TO"


def write_cypher(g: nx.MultiDiGraph, out: Path) -> list[Path]:
    """MERGE statements: one ``:Entity`` node per entity (labelled by its type too), keyed by ``kg_id``, and one
    relationship per relation, typed by its predicate. Running the script twice changes nothing."""
    lines = ["// kg export: entities and relations. Run with cypher-shell or paste into Neo4j Browser / Memgraph.",
             "CREATE INDEX entity_kg_id IF NOT EXISTS FOR (n:Entity) ON (n.kg_id);"]
    for n, d in g.nodes(data=True):
        props = ", ".join(f"n.{k} = {_cypher_string(d[k]) if isinstance(d[k], str) else d[k]}"
                          for k in ("name", "type", "kb_id", "description", "mentions", "documents"))
        lines.append(f"MERGE (n:Entity {{kg_id: {n}}}) SET n:{_identifier(d['type'])}, {props};")
    for h, t, k, d in g.edges(keys=True, data=True):
        lines.append(f"MATCH (a:Entity {{kg_id: {h}}}), (b:Entity {{kg_id: {t}}}) "
                     f"MERGE (a)-[r:{_identifier(d['predicate'])} {{kg_id: {_cypher_string(k)}}}]->(b) "
                     f"SET r.weight = {d['weight']}, r.evidence = {_cypher_string(d['evidence'])}, "
                     f"r.evidence_document = {_cypher_string(d['evidence_document'])};")
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [out]


WRITERS = {"graphml": write_graphml, "gexf": write_gexf, "json": write_json, "csv": write_csv,
           "cypher": write_cypher}
