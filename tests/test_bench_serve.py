"""``kg bench serve`` on a tiny dataset: every figure is there, and no request fails, idle or while an ingest
writes to the store."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from kg.bench.serve import print_serve_bench, run_serve_bench


def test_the_serve_bench_measures_the_service_against_kg_search(tmp_path: Path) -> None:
    data = tmp_path / "tiny"
    data.mkdir()
    places = ["Paris", "Warsaw", "Berlin", "Vienna", "Zurich", "Lyon"]
    with (data / "corpus.jsonl").open("w", encoding="utf-8") as f:
        for i, p in enumerate(places):
            f.write(json.dumps({"id": f"p{i}", "title": f"Institute {i}",
                                "text": f"The Institute {i} was founded in {p} by Marie Curie in 19{10 + i}."}) + "\n")
    with (data / "queries.jsonl").open("w", encoding="utf-8") as f:
        for i, p in enumerate(places[:3]):
            f.write(json.dumps({"id": f"q{i}", "question": f"Which institute was founded in {p}?",
                                "answers": [f"Institute {i}"], "supporting": [f"p{i}"]}) + "\n")
    r = run_serve_bench(data, tmp_path / "kg.db", queries=3, peer_queries=1, seconds=1.5)
    assert r["documents"] == 6 and r["startup_seconds"] > 0
    assert 0 < r["search_p50_ms"] <= r["search_p95_ms"]
    assert r["peer_ratio"] > 1  # a process per question loads its models every time
    assert [x["clients"] for x in r["load"]] == [1, 4, 16]
    assert all(x["requests"] > 0 and x["errors"] == 0 for x in [*r["load"], r["load_while_ingesting"]])
    assert r["load_while_ingesting"]["ingest_exit"] == 0
    console = Console(record=True, width=120)
    print_serve_bench(r, console)
    assert "4 + ingest" in console.export_text()
