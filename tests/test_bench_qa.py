"""``kg bench qa``: SQuAD-style metrics, and the extractive rows on the tiny corpus of the retrieval bench test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import write
from test_bench_retrieval import PASSAGES, QUERIES, assert_user_error, jsonl, kg

from kg.bench.qa import BM25_RETRIEVER, EXTRACTIVE, KG_RETRIEVER, exact_match, normalize_answer, token_f1


def test_normalisation_and_metrics() -> None:
    assert normalize_answer("The  Anglican Communion.") == "anglican communion"
    assert exact_match("the Anglican communion", ["Anglican Communion", "Church of England"]) == 1.0
    assert exact_match("Anglican", ["Anglican Communion"]) == 0.0
    assert token_f1("Anglican", ["Anglican Communion"]) == pytest.approx(2 / 3)
    assert token_f1("It was Stanley Hall.", ["G. Stanley Hall", "Stanley Hall"]) == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert token_f1("nothing in common", ["Stanley Hall"]) == 0.0


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    d = tmp_path / "tiny"
    write(d, "corpus.jsonl", jsonl([{"id": i, "title": t, "text": x} for i, t, x in PASSAGES]))
    write(d, "queries.jsonl", jsonl(QUERIES))
    return d


def test_extractive_rows_over_the_graph_and_bm25(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "qa.json"
    r = kg("bench", "qa", str(dataset), "--no-llm", "-k", "3", "--out", str(out))
    assert r.exit_code == 0, (r.output, r.exception)
    result = json.loads(out.read_text(encoding="utf-8"))
    rows = {(row["answerer"], row["retriever"]): row for row in result["rows"]}
    assert set(rows) == {(EXTRACTIVE, KG_RETRIEVER), (EXTRACTIVE, BM25_RETRIEVER)}
    for row in rows.values():
        assert row["questions"] == len(QUERIES)
        assert 0.0 <= row["exact_match"] <= row["f1"] <= 1.0  # sentences: F1 can be above zero, EM hardly
        assert 0.0 < row["source_recall"] <= 1.0 and row["cited"] == 1.0
    graph = rows[(EXTRACTIVE, KG_RETRIEVER)]
    assert graph["f1"] > 0  # the answers' words are in the evidence sentences
    by_id = {q["id"]: q for q in result["per_query"]}
    first = by_id["q0"]["predictions"][f"{EXTRACTIVE} / {KG_RETRIEVER}"]
    assert "Tobias Wren" in first["text"] and first["citations"]
    assert "answers against the gold answer" in r.stdout and "F1" in r.stdout


def test_queries_without_answers_are_a_user_error(dataset: Path, tmp_path: Path) -> None:
    bad = [dict(q) for q in QUERIES]
    del bad[1]["answers"]
    write(dataset, "queries.jsonl", jsonl(bad))
    assert_user_error(kg("bench", "qa", str(dataset), "--no-llm"), 'has no "answers"')


def test_unknown_llm_is_a_user_error(dataset: Path) -> None:
    assert_user_error(kg("bench", "qa", str(dataset), "--llm", "nonsense:model"), "unknown LLM provider")
