"""``kg serve``'s JSON API through FastAPI's TestClient, on stores built from the bundled sample."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import SAMPLE, SAMPLE_DOCS, rows
from fastapi.testclient import TestClient

from kg.api import KnowledgeGraph
from kg.serve import create_app

HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def client(sample_kg: KnowledgeGraph) -> Iterator[TestClient]:
    with TestClient(create_app(sample_kg, read_only=True, warm=False)) as c:
        yield c


def copy_store(src: KnowledgeGraph, to: Path) -> Path:
    """The sample store copied whole (its index folder too), for a test that writes."""
    db = to / "kg.db"
    with src.db.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(src.path, db)
    index = Path(f"{src.path}.index")
    if index.exists():
        shutil.copytree(index, Path(f"{db}.index"))
    return db


@contextmanager
def serving(app: Any, limit: float = 120) -> Iterator[str]:
    """``app`` under uvicorn on a free loopback port, in a thread, until the block ends; its URL once
    ``/api/health`` says ready."""
    import socket
    import threading
    import time

    import httpx
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + limit
    with httpx.Client(timeout=10) as c:
        while not srv.started or not c.get(f"{url}/api/health").json()["ready"]:
            assert time.time() < deadline, "the service was not ready in time"
            time.sleep(0.2)
    try:
        yield url
    finally:
        srv.should_exit = True
        thread.join(10)


@pytest.fixture
def writable(sample_kg: KnowledgeGraph, tmp_path: Path) -> Iterator[tuple[TestClient, KnowledgeGraph]]:
    g = KnowledgeGraph(copy_store(sample_kg, tmp_path))
    with TestClient(create_app(g, warm=False)) as c:
        yield c, g
    g.close()


def test_health_and_stats(client: TestClient) -> None:
    h = client.get("/api/health").json()
    assert h["ready"] is True and h["read_only"] is True and h["stats"]["documents"] == SAMPLE_DOCS
    assert client.get("/api/stats").json()["documents"] == SAMPLE_DOCS


def test_search_gives_the_breakdown_and_graph_paths(client: TestClient) -> None:
    r = client.get("/api/search", params={"q": "Who founded the Radium Institute?", "k": 3})
    assert r.status_code == 200
    body = r.json()
    assert len(body["results"]) == 3 and body["results"][0]["rank"] == 1
    top = body["results"][0]
    assert set(top["scores"]) >= {"sparse", "graph"} and top["matches"]
    assert "Radium Institute" in {q["name"] for q in body["query_entities"]}
    assert any(res["path"] for res in body["results"])


def test_bad_parameters_are_422_with_what_is_wrong(client: TestClient) -> None:
    for params in ({"q": "x", "k": 0}, {"q": ""}, {"q": "x" * 2001}, {"q": "x", "mode": "psychic"}):
        r = client.get("/api/search", params=params)
        assert r.status_code == 422, params
        assert r.json()["error"] == "invalid parameters" and r.json()["problems"]
    assert client.get("/api/subgraph", params={"names": "Paris", "hops": 9}).status_code == 422
    assert client.get("/api/documents/abc").status_code == 422


def test_autocomplete_by_prefix_by_spelling_and_by_type(client: TestClient) -> None:
    names = [e["name"] for e in client.get("/api/entities", params={"prefix": "Marie Cu"}).json()]
    assert names[0] == "Marie Curie"
    fuzzy = [e["name"] for e in client.get("/api/entities", params={"prefix": "Mari Curi"}).json()]
    assert "Marie Curie" in fuzzy
    orgs = client.get("/api/entities", params={"prefix": "Marie Curie", "type": "ORG"}).json()
    assert orgs and {e["type"] for e in orgs} == {"ORG"}
    top = client.get("/api/entities", params={"limit": 3}).json()
    assert len(top) == 3 and top[0]["mentions"] >= top[-1]["mentions"]


def test_an_unknown_entity_is_404_with_close_matches(client: TestClient) -> None:
    r = client.get("/api/entity", params={"name": "Mari Curi"})
    assert r.status_code == 404
    assert "Marie Curie" in r.json()["suggestions"]
    assert client.get("/api/documents/999999").status_code == 404


def test_the_entity_card_and_its_neighbourhood(client: TestClient) -> None:
    card = client.get("/api/entity", params={"name": "Ernest Rutherford", "mentions": 3}).json()
    assert card["type"] == "PERSON" and len(card["mentions"]) == 3
    assert [f["name"] for f in card["fused"]] == ["Rutherford"]
    ev = next(e for r in card["relations"] for e in r["evidence"])
    doc = client.get(f"/api/documents/{ev['document_id']}").json()
    assert doc["text"][ev["start"]:ev["end"]] == ev["sentence"]  # the evidence opens at its place
    n = client.get("/api/neighbors", params={"name": "Radium Institute", "hops": 1}).json()
    assert n["entity"]["name"] == "Radium Institute" and n["neighbors"]
    people = client.get("/api/neighbors", params={"name": "Radium Institute", "hops": 1, "types": "PERSON"}).json()
    assert people["neighbors"] and {x["type"] for x in people["neighbors"]} == {"PERSON"}
    assert len(people["neighbors"]) < len(n["neighbors"])
    sub = client.get("/api/subgraph", params=[("names", "Marie Curie"), ("names", "Radium Institute"),
                                                ("hops", 1), ("limit", 15), ("types", "GPE")]).json()
    assert {n["name"] for n in sub["nodes"] if n["seed"]} >= {"Radium Institute"}
    assert {n["type"] for n in sub["nodes"] if not n["seed"]} <= {"GPE"}
    ids = {n["id"] for n in sub["nodes"]}
    assert sub["edges"] and all(e["head"] in ids and e["tail"] in ids for e in sub["edges"])


def test_a_document_with_its_mentions_at_their_offsets(client: TestClient, sample_kg: KnowledgeGraph) -> None:
    docs = client.get("/api/documents").json()
    assert len(docs) == SAMPLE_DOCS
    curie = next(d for d in docs if d["source"].endswith("marie_curie.txt"))
    view = client.get(f"/api/documents/{curie['id']}").json()
    original = (SAMPLE / "people" / "marie_curie.txt").read_text(encoding="utf-8")
    assert " ".join(view["text"].split()) in " ".join(original.split())  # put back together from its chunks
    assert len(view["text"]) > 0.9 * len(original)
    assert view["mentions"] and all(view["text"][m["start"]:m["end"]] == m["surface"] for m in view["mentions"])
    assert {m["entity"] for m in view["mentions"]} >= {"Marie Curie", "Warsaw"}
    missing = client.get("/api/chunks/999999")
    assert missing.status_code == 404 and "No chunk" in missing.json()["error"]
    first = client.get("/api/search", params={"q": "Marie Curie Warsaw", "k": 1}).json()["results"][0]
    chunk = client.get(f"/api/chunks/{first['chunk_id']}").json()
    assert chunk["text"] == first["text"] and chunk["document_id"] == first["document_id"]
    assert chunk["entities"] and chunk["entities"][0]["mentions"] >= chunk["entities"][-1]["mentions"]


def test_ask_streams_tokens_then_a_cited_answer(client: TestClient) -> None:
    with client.stream("POST", "/api/ask", json={"question": "When was the Radium Institute founded?",
                                                 "no_llm": True}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = [line for line in r.iter_lines() if line.startswith(("event:", "data:"))]
    kinds = [e.split(": ", 1)[1] for e in events if e.startswith("event:")]
    assert kinds[-1] == "answer"
    answer = json.loads(events[-1].split(": ", 1)[1])
    assert answer["citations"] and answer["sources"] and "[1]" in answer["text"] and "1909" in answer["text"]
    assert {c["chunk_id"] for c in answer["citations"]} <= {r["chunk_id"] for r in answer["results"]}
    assert any(r["path"] for r in answer["results"]) and answer["query_entities"]
    assert client.post("/api/ask", json={"question": ""}).status_code == 422


def test_a_read_only_service_refuses_writes(client: TestClient) -> None:
    for path, body in (("/api/merge", {"keep": "Paris", "other": "Warsaw"}), ("/api/unmerge", {"name": "Paris"}),
                       ("/api/delete", {"selectors": ["id:1"]})):
        r = client.post(path, json=body)
        assert r.status_code == 403 and "read-only" in r.json()["error"]
    assert client.post("/api/ingest", files={"files": ("a.txt", b"Paris is in France.")}).status_code == 403


def test_with_a_token_every_api_call_needs_it(sample_kg: KnowledgeGraph) -> None:
    with TestClient(create_app(sample_kg, read_only=True, token="s3cret", warm=False)) as c:
        assert c.get("/api/stats").status_code == 401
        assert c.get("/api/stats", headers={"Authorization": "Bearer nope"}).status_code == 401
        assert c.get("/api/stats", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.get("/").status_code == 200  # the page itself asks for the token


def test_the_explorer_is_served_from_the_package_with_a_strict_policy(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "http" not in "".join(line for line in page.text.splitlines() if "<script" in line or "stylesheet" in line)
    assert client.get("/static/vendor/cytoscape.min.js").status_code == 200
    assert client.get("/static/vendor/cytoscape.LICENSE").status_code == 200
    assert client.get("/docs").status_code == 200
    assert "/api/search" in client.get("/openapi.json").json()["paths"]


def test_merge_unmerge_upload_and_delete(writable: tuple[TestClient, KnowledgeGraph], monkeypatch) -> None:  # type: ignore[no-untyped-def]
    c, g = writable
    m = c.post("/api/merge", json={"keep": "Marie Curie", "other": "Pierre Curie"})
    assert m.status_code == 400 and "several entities" in m.json()["error"]  # two Marie Curies: pick one
    keep = next(e["id"] for e in c.get("/api/entities", params={"prefix": "Marie Curie", "type": "PERSON"}).json())
    m = c.post("/api/merge", json={"keep": f"id:{keep}", "other": "Pierre Curie"})
    assert m.status_code == 200 and m.json()["action"] == "merge"
    assert c.get("/api/merges").json()[0]["action"] == "merge"
    assert c.post("/api/unmerge", json={"name": "Pierre Curie"}).json()["action"] == "unmerge"
    assert c.post("/api/unmerge", json={"name": "Paris"}).status_code == 400
    assert c.post("/api/unfuse", json={"name": "Rutherford"}).json()["action"] == "unfuse"
    text = (f"# {HOSTILE}\n\nThe company {HOSTILE} was founded in Lyon by Jean Dupont in 1901. "
            "<script>alert(2)</script>\n")
    up = c.post("/api/ingest", files={"files": ("../../evil name.md", text.encode())})
    assert up.status_code == 200 and up.json()["documents"] == 1
    assert (Path(f"{g.path}.uploads") / "evil name.md").is_file()  # the name's folders are dropped
    docs = {d["source"]: d for d in c.get("/api/documents").json()}
    new = next(d for s, d in docs.items() if s.endswith("evil name.md"))
    assert "<script>" not in c.get(f"/api/documents/{new['id']}").json()["text"]  # the loader drops scripts
    monkeypatch.setenv("KG_MAX_FILE_MB", "0.001")
    big = c.post("/api/ingest", files={"files": ("big.txt", b"Paris. " * 400)})
    assert big.status_code == 413
    monkeypatch.delenv("KG_MAX_FILE_MB")
    gone = c.post("/api/delete", json={"selectors": [f"id:{new['id']}"]})
    assert gone.status_code == 200 and len(gone.json()["documents"]) == 1
    assert rows(g.path, "SELECT count(*) FROM documents") == [(SAMPLE_DOCS,)]


def test_searches_keep_answering_while_another_process_ingests(sample_kg: KnowledgeGraph, tmp_path: Path) -> None:
    import subprocess
    import sys

    import httpx
    from conftest import ROOT

    g = KnowledgeGraph(copy_store(sample_kg, tmp_path))
    docs = tmp_path / "new"
    docs.mkdir()
    for i in range(12):
        (docs / f"n{i}.txt").write_text(f"Report {i}\n\nIn 19{10 + i} the physicist Anna Novak{i} visited the Radium "
                                        f"Institute in Paris and met Marie Curie.\n", encoding="utf-8")
    with serving(create_app(g)) as url, httpx.Client(timeout=60) as c:
        writer = subprocess.Popen([sys.executable, "-m", "kg.cli", "--db", str(g.path), "ingest", str(docs),
                                   "--quiet"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        codes = []
        while writer.poll() is None or len(codes) < 5:
            codes.append(c.get(f"{url}/api/search", params={"q": "Who visited the Radium Institute?", "k": 5})
                         .status_code)
        assert writer.wait() == 0, writer.stderr.read() if writer.stderr else ""
        assert codes and set(codes) == {200}
        after = c.get(f"{url}/api/search", params={"q": "Which physicist visited the Radium Institute?", "k": 5}).json()
        assert any(r["title"].startswith("Report ") for r in after["results"])  # the new documents are searched too
        assert c.get(f"{url}/api/stats").json()["documents"] == SAMPLE_DOCS + 12
    g.close()


def test_serving_another_address_needs_a_token_or_no_auth(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from kg.cli import cli

    r = CliRunner().invoke(cli, ["--db", str(tmp_path / "kg.db"), "serve", "--host", "0.0.0.0"], prog_name="kg")
    assert r.exit_code == 2 and "--token" in r.output
    r = CliRunner().invoke(cli, ["--db", str(tmp_path / "kg.db"), "serve", "--token", " "], prog_name="kg")
    assert r.exit_code == 2 and "token is empty" in r.output
