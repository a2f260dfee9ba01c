"""``kg bench retrieval`` on a tiny corpus written here: rows, metric ranges, a keyword query BM25 must get, errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from conftest import write

from kg.bench.retrieval import BM25_ROW, DENSE_ROW, ROWS, dedupe, passage_id, score_ranking
from kg.cli import cli

PASSAGES = [
    ("p0", "Marie Curie", "Marie Curie was a physicist born in Warsaw. She won the Nobel Prize in Physics in 1903."),
    ("p1", "Warsaw", "Warsaw is the capital of Poland. The Vistula river flows through Warsaw."),
    ("p2", "Pierre Curie", "Pierre Curie was a French physicist. He married Marie Curie in Paris in 1895."),
    ("p3", "Zyxoria Glassworks", "The Zyxoria Glassworks were founded by Tobias Wren in Bristol in 1781."),
    ("p4", "Tobias Wren", "Tobias Wren was an English glassmaker. He was born in Exeter and died in Bath."),
    ("p5", "Bristol", "Bristol is a city in the south west of England, on the River Avon."),
    ("p6", "Tokyo", "Tokyo is the capital of Japan. Tokyo hosted the Summer Olympics in 1964."),
    ("p7", "Mount Fuji", "Mount Fuji is the highest mountain in Japan, south west of Tokyo."),
]
QUERIES = [
    {"id": "q0", "question": "Who founded the Zyxoria Glassworks?", "answers": ["Tobias Wren"], "supporting": ["p3"]},
    {"id": "q1", "question": "Where was the founder of the Zyxoria Glassworks born?", "answers": ["Exeter"],
     "supporting": ["p3", "p4"]},
    {"id": "q2", "question": "Which river flows through the city where Marie Curie was born?",
     "answers": ["Vistula"], "supporting": ["p0", "p1"]},
    {"id": "q3", "question": "What is the highest mountain in the country whose capital hosted the 1964 Olympics?",
     "answers": ["Mount Fuji"], "supporting": ["p6", "p7"]},
]


def kg(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env={"KG_DB": None}, prog_name="kg")


def assert_user_error(r: Result, *fragments: str) -> None:
    assert r.exit_code == 1, (r.output, r.exception)
    assert isinstance(r.exception, SystemExit), repr(r.exception)  # no exception escaped: no traceback
    assert "Traceback" not in r.output
    lines = [line for line in r.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and all(f in lines[0] for f in fragments), r.stderr


def jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Query encoders on one thread: with two, a busy 2-core machine makes each tiny query take ~0.5 s."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    d = tmp_path / "mini"
    write(d, "corpus.jsonl", jsonl([{"id": i, "title": t, "text": x} for i, t, x in PASSAGES]))
    write(d, "queries.jsonl", jsonl(QUERIES))
    return d


def test_bench_retrieval_json(dataset: Path, tmp_path: Path, one_torch_thread: None) -> None:
    db, out = tmp_path / "mini.db", tmp_path / "result.json"
    r = kg("bench", "retrieval", str(dataset), "--db", str(db), "--processes", "1", "--threads", "1", "--out", str(out),
           "--json")
    assert r.exit_code == 0, (r.output, r.exception)
    res = json.loads(r.stdout)
    assert json.loads(out.read_text(encoding="utf-8")) == res
    assert (res["passages"], res["queries"], res["documents"], res["reused_db"], res["torch_threads"]) == (
        8, 4, 8, False, 1)
    assert res["ingest_seconds"] > 0 and res["bare_ner_seconds"] > 0 and res["ratio_to_bare_ner"] > 0
    assert [row["name"] for row in res["rows"]] == [BM25_ROW, DENSE_ROW] + [name for name, _ in ROWS]
    for row in res["rows"]:
        for key in ("recall_at_2", "recall_at_5", "perfect_at_8"):
            assert 0.0 <= row[key] <= 1.0, (row["name"], key, row[key])
        assert row["recall_at_5"] >= row["recall_at_2"]
        assert 0 <= row["latency_p50_ms"] <= row["latency_p95_ms"]
    # The one passage that names "Zyxoria" is BM25's first hit for the question that asks about it.
    top = {q["id"]: q["top"] for q in res["per_query"]}
    assert top["q0"][BM25_ROW][0] == "p3"
    assert top["q0"][BM25_ROW] == dedupe(top["q0"][BM25_ROW]) and len(top["q0"][BM25_ROW]) == 8
    # Reusing the store: no ingest, no timings, the peer's embeddings from the cache; the human table.
    again = kg("bench", "retrieval", str(dataset), "--db", str(db), "--processes", "1", "--limit-queries", "1")
    assert again.exit_code == 0, (again.output, again.exception)
    assert "retrieval: 8 passages, 1 query; ingest+index n/a (reused --db)" in again.stdout
    for name in ("BM25", "MiniLM", "word pieces only", "graph only", "hybrid + dense", "default", "Perfect@8"):
        assert name in again.stdout, name
    assert (tmp_path / "mini.db.minilm-peer.npz").is_file()


def test_metrics_and_passage_ids() -> None:
    assert passage_id("/data/corpus.jsonl#p12") == "p12" and passage_id("a#b#p3") == "p3"
    assert dedupe(["p1", "p2", "p1", "p3", "p2"]) == ["p1", "p2", "p3"]
    s = score_ranking(["p1", "p9", "p2", "p8", "p7", "p6", "p5", "p3"], ["p1", "p2", "p3"])
    assert s == {"recall_at_2": 1 / 3, "recall_at_5": 2 / 3, "perfect_at_8": 1.0}
    assert score_ranking([], ["p1"])["perfect_at_8"] == 0.0


def test_bench_retrieval_missing_queries_file(tmp_path: Path) -> None:
    write(tmp_path, "corpus.jsonl", jsonl([{"id": i, "title": t, "text": x} for i, t, x in PASSAGES]))
    assert_user_error(kg("bench", "retrieval", str(tmp_path)), str(tmp_path), "queries.jsonl")


@pytest.mark.parametrize(("queries", "fragments"), [
    ('{"id": "q0", "supporting": ["p1"]}\n', ("queries.jsonl:1", '"question"')),
    ('{"id": "q0", "question": "Where?"}\n', ("queries.jsonl:1", '"supporting"')),
    ('{"id": "q0", "question": "Where?", "supporting": ["p1"]}\n{broken\n', ("queries.jsonl:2", "malformed JSON")),
    ('{"id": "q0", "question": "Where?", "supporting": ["p1", "p99"]}\n', ("queries.jsonl:1", "p99", "corpus")),
])
def test_bench_retrieval_bad_queries(dataset: Path, queries: str, fragments: tuple[str, ...]) -> None:
    write(dataset, "queries.jsonl", queries)
    assert_user_error(kg("bench", "retrieval", str(dataset)), *fragments)


def test_bench_retrieval_corpus_without_ids(dataset: Path) -> None:
    write(dataset, "corpus.jsonl", jsonl([{"title": "Rome", "text": "Rome is the capital of Italy."}]))
    assert_user_error(kg("bench", "retrieval", str(dataset)), "corpus.jsonl", '"id"')


def test_bench_retrieval_dataset_must_be_a_folder(dataset: Path) -> None:
    r = kg("bench", "retrieval", str(dataset / "corpus.jsonl"))
    assert r.exit_code == 2 and "is a file" in r.stderr, r.stderr


def test_bench_retrieval_bad_db(dataset: Path, tmp_path: Path) -> None:
    assert_user_error(kg("bench", "retrieval", str(dataset), "--db", str(tmp_path / "absent" / "kg.db")),
                      "absent", "does not exist")
    garbage = write(tmp_path, "garbage.db", "not a database at all" * 100)
    assert_user_error(kg("bench", "retrieval", str(dataset), "--db", str(garbage)), "garbage.db", "not a kg store")
