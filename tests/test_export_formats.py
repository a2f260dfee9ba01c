"""Exports that other tools open as they are: every format read back by a reader other than the writer where one
exists, with names, types, weights and evidence intact, non-ASCII included."""

from __future__ import annotations

import csv
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import networkx as nx
import pytest
from conftest import rows

from kg.api import KnowledgeGraph

GEXF_NS = "{http://www.gexf.net/1.2draft}"
GRAPH_ATTRIBUTES = {"defaultedgetype", "mode", "idtype", "timeformat", "start", "end"}  # GEXF 1.2's <graph>


def expected(g: KnowledgeGraph) -> tuple[list[tuple[str, str]], set[tuple[str, str, str, float]]]:
    names = sorted(rows(g.path, "SELECT name, type FROM entities WHERE merged_into_id IS NULL"))
    rels = {(h, p, t, w) for h, p, t, w in rows(
        g.path, "SELECT h.name, r.predicate, t.name, r.weight FROM relations r JOIN entities h ON h.id = r.head_id "
                "JOIN entities t ON t.id = r.tail_id WHERE r.head_id != r.tail_id")}
    return names, rels


def check(graph: nx.MultiDiGraph, g: KnowledgeGraph) -> None:
    names, rels = expected(g)
    label = {n: d.get("label") or d.get("name") for n, d in graph.nodes(data=True)}
    assert sorted((label[n], d["type"]) for n, d in graph.nodes(data=True)) == names
    assert {(label[h], d["predicate"], label[t], float(d["weight"])) for h, t, d in graph.edges(data=True)} == rels
    assert any("é" in n or "ł" in n for n in label.values())  # Frédéric, Skłodowska
    with_evidence = [d for _, _, d in graph.edges(data=True) if d.get("evidence")]
    assert len(with_evidence) == graph.number_of_edges() and all(d["evidence_document"] for d in with_evidence)
    curie = next(d for n, d in graph.nodes(data=True) if label[n] == "Marie Curie" and d["type"] == "PERSON")
    assert int(curie["mentions"]) > 10 and int(curie["documents"]) > 3


def test_graphml_reads_back_in_networkx_and_igraph(sample_kg: KnowledgeGraph, tmp_path: Path) -> None:
    import igraph

    out = tmp_path / "g.graphml"
    info = sample_kg.export(out, "graphml")
    check(nx.read_graphml(out), sample_kg)
    ids = [e.get("id") for e in ET.parse(out).getroot().iter("{http://graphml.graphdrawing.org/xmlns}edge")]
    assert len(ids) == len(set(ids)) == info.edges  # graphology rejects a repeated edge id
    ig = igraph.Graph.Read_GraphML(str(out))
    assert (ig.vcount(), ig.ecount()) == (info.nodes, info.edges)
    assert "Frédéric Joliot-Curie" in ig.vs["label"] and set(ig.es["predicate"]) >= {"born_in", "related_to"}


def test_gexf_follows_the_1_2_format_and_gephi_shows_names(sample_kg: KnowledgeGraph, tmp_path: Path) -> None:
    out = tmp_path / "g.gexf"
    sample_kg.export(out, "gexf")
    root = ET.parse(out).getroot()
    assert root.tag == f"{GEXF_NS}gexf" and root.get("version") == "1.2"
    (graph,) = root.findall(f"{GEXF_NS}graph")
    assert set(graph.attrib) <= GRAPH_ATTRIBUTES  # networkx's name="" is not allowed there
    labels = [n.get("label") for n in root.iter(f"{GEXF_NS}node")]
    assert labels and not any(str(label).isdigit() for label in labels)
    check(nx.read_gexf(out), sample_kg)


def test_json_loads_with_any_networkx(sample_kg: KnowledgeGraph, tmp_path: Path) -> None:
    out = tmp_path / "g.json"
    sample_kg.export(out, "json")
    data = json.loads(out.read_text(encoding="utf-8"))
    assert set(data) == {"directed", "multigraph", "graph", "nodes", "links"}  # node_link_graph's defaults
    check(nx.node_link_graph(data, edges="links"), sample_kg)


def test_csv_writes_a_nodes_and_an_edges_file(sample_kg: KnowledgeGraph, tmp_path: Path) -> None:
    info = sample_kg.export(tmp_path / "graph.csv", "csv")
    assert info.files == [str(tmp_path / "graph.nodes.csv"), str(tmp_path / "graph.edges.csv")]
    with open(info.files[0], encoding="utf-8", newline="") as f:
        nodes = list(csv.DictReader(f))
    with open(info.files[1], encoding="utf-8", newline="") as f:
        edges = list(csv.DictReader(f))
    graph = nx.MultiDiGraph()
    for n in nodes:
        graph.add_node(n["id"], **n)
    for e in edges:
        graph.add_edge(e["source"], e["target"], key=e["id"], **e)
    check(graph, sample_kg)


def test_cypher_script_merges_every_entity_and_relation(sample_kg: KnowledgeGraph, tmp_path: Path) -> None:
    out = tmp_path / "graph.cypher"
    info = sample_kg.export(out, "cypher")
    lines = out.read_text(encoding="utf-8").splitlines()
    merges = [line for line in lines if line.startswith("MERGE (n:Entity")]
    links = [line for line in lines if line.startswith("MATCH (a:Entity")]
    assert (len(merges), len(links)) == (info.nodes, info.edges)
    string = r"'(?:[^'\\]|\\.)*'"
    for line in merges + links:
        assert line.endswith(";") and re.fullmatch(rf"(?:[^'\\]|{string})*", line), line  # every quote closed
    assert any("n.name = 'Frédéric Joliot-Curie'" in m and "SET n:PERSON" in m for m in merges)
    assert any("-[r:BORN_IN " in m for m in links)


@pytest.mark.parametrize("fmt", ["graphml", "gexf", "json", "cypher"])
def test_a_name_with_quotes_and_markup_survives(make_kg, tmp_path: Path, fmt: str) -> None:  # type: ignore[no-untyped-def]
    kg = make_kg()
    kb = tmp_path / "kb.jsonl"
    name = "O'Brien & \"Sons\" <Ltd> \\ Łódź"
    kb.write_text(json.dumps({"id": "Q1", "name": name, "type": "ORG", "description": "it's \"quoted\""}) + "\n",
                  encoding="utf-8")
    kg.import_kb(kb)
    out = tmp_path / f"g.{fmt}"
    kg.export(out, fmt)
    if fmt == "cypher":
        text = out.read_text(encoding="utf-8")
        assert "n.name = 'O\\'Brien & \"Sons\" <Ltd> \\\\ Łódź'" in text
        return
    graph = (nx.read_graphml(out) if fmt == "graphml" else nx.read_gexf(out) if fmt == "gexf"
             else nx.node_link_graph(json.loads(out.read_text(encoding="utf-8")), edges="links"))
    (d,) = [d for _, d in graph.nodes(data=True)]
    assert (d["label"], d["description"]) == (name, "it's \"quoted\"")
