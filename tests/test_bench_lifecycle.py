"""``kg bench lifecycle`` on the lifecycle test corpus as a corpus.jsonl: step counts, every step equal to its
rebuild, positive timings, the per-document delete rows, the table; and how stores are compared."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result
from conftest import write
from lifecycle_corpus import corpus
from rich.console import Console

from kg.bench.lifecycle import _compare, print_lifecycle_bench
from kg.cli import cli

LIMIT = 40  # of the corpus's 42 documents
DELETES = 2


def kg(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env={"KG_DB": None}, prog_name="kg")


def as_records(docs: dict[str, str]) -> list[dict[str, str]]:
    """Each document as {id, title, text}: the first line is its title (a Markdown heading or a plain line)."""
    out = []
    for rel, text in sorted(docs.items()):
        title, _, body = text.partition("\n")
        out.append({"id": rel, "title": title.lstrip("# ").strip(), "text": body.strip() + "\n"})
    return out


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("lifecycle-corpus")
    write(d, "corpus.jsonl", "".join(json.dumps(r) + "\n" for r in as_records(corpus(0))))
    return d


@pytest.fixture(scope="module")
def result(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One run without the index step (no models to load); the index path is the same code with vectors."""
    out = tmp_path_factory.mktemp("lifecycle-out") / "lifecycle.json"
    r = kg("bench", "lifecycle", str(dataset), "--limit", str(LIMIT), "--deletes", str(DELETES), "--seed", "3",
           "--no-index", "--processes", "1", "--json", "--out", str(out))
    assert r.exit_code == 0, (r.output, r.exception)
    data = json.loads(r.stdout)
    assert json.loads(out.read_text(encoding="utf-8")) == data
    return data


def test_every_step_equals_its_rebuild_with_the_right_counts(result: dict[str, Any], dataset: Path) -> None:
    texts = [r["text"] for r in as_records(corpus(0))[:LIMIT]]
    assert (result["passages"], result["chars"], result["seed"], result["index"]) == (
        LIMIT, sum(len(t) for t in texts), 3, False)
    steps = {s["step"]: s for s in result["steps"]}
    assert list(steps) == ["build", "add", "delete", "change"]
    # 10 % added after a build of the rest, 10 % of the store deleted, 1 % (at least one) changed
    assert [steps[k]["documents"] for k in steps] == [36, 4, 4, 1]
    assert [steps[k]["rebuild_documents"] for k in steps] == [36, 40, 36, 36]
    assert [steps[k]["store"]["documents"] for k in steps] == [36, 40, 36, 36]
    assert steps["build"]["equal"] is None and steps["build"]["ratio_to_rebuild"] == 1.0
    for name in ("add", "delete", "change"):
        s = steps[name]
        assert s["equal"] is True, (name, s["differences"], s["first_differences"])
        assert s["differences"] == {} and s["first_differences"] == []
        assert s["ratio_to_rebuild"] > 0
    assert steps["delete"]["ratio_to_rebuild"] < 1 and steps["change"]["ratio_to_rebuild"] < 1
    assert result["all_equal"] and result["all_equal_but_rounding"]
    for s in steps.values():
        assert s["seconds"] > 0 and s["rebuild_seconds"] > 0 and s["documents_per_second"] > 0
        assert s["cpu_seconds"] > 0 and s["rebuild_cpu_seconds"] > 0 and s["cpu_ratio_to_rebuild"] > 0
        assert s["ms_per_document"] > 0
    assert (steps["build"]["report"]["documents"], steps["build"]["report"]["errors"]) == (36, 0)
    assert (steps["add"]["report"]["documents"], steps["add"]["report"]["skipped"]) == (4, 0)
    assert steps["delete"]["report"]["documents"] == 4 and steps["delete"]["report"]["chunks"] >= 4
    assert steps["delete"]["report"]["delete_seconds"] > 0
    assert (steps["change"]["report"]["documents"], steps["change"]["report"]["replaced"]) == (1, 1)


def test_per_document_delete_at_two_store_sizes(result: dict[str, Any]) -> None:
    d = result["per_document_delete"]
    small, full = d["sizes"]
    assert (small["store"], full["store"]) == ("small", "full")
    assert (small["store_documents"], full["store_documents"]) == (4, LIMIT)  # 10 % and all of them
    assert small["deleted"] == full["deleted"] == len(d["documents"]) == len(d["document_chars"]) == DELETES
    assert d["store_size_ratio"] == 10.0
    for row in (small, full):
        assert len(row["ms"]) == len(row["cpu_ms"]) == DELETES and all(m > 0 for m in row["ms"] + row["cpu_ms"])
        assert row["mean_cpu_ms"] > 0 and row["median_cpu_ms"] > 0
        assert 0 < row["median_ms"] <= row["max_ms"] and row["mean_ms"] > 0 and row["mean_ms_per_1000_chars"] > 0
    assert d["ratio_mean"] > 0 and d["ratio_median"] > 0 and d["ratio_per_1000_chars"] > 0
    assert d["cpu_ratio_mean"] > 0 and d["cpu_ratio_median"] > 0


def test_the_table(result: dict[str, Any]) -> None:
    console = Console(record=True, width=200, highlight=False)
    print_lifecycle_bench(result, console)
    text = console.export_text()
    for fragment in ("lifecycle: 40 passages", "build 90 % (rebuild peer)", "add 10 %", "delete 10 %", "change 1 %",
                     "(is the rebuild)", "per-document delete", "│ small", "│ full", "full / small"):
        assert fragment in text, fragment
    assert text.count("equal") >= 3 and "differs" not in text


def test_too_few_passages_is_a_user_error(dataset: Path) -> None:
    r = kg("bench", "lifecycle", str(dataset), "--limit", "5")
    assert r.exit_code == 1 and isinstance(r.exception, SystemExit), (r.output, r.exception)
    assert "needs at least 10 passages, found 5" in r.stderr and "Traceback" not in r.output


def _vec(*xs: float) -> bytes:
    return np.asarray(xs, dtype="<f4").tobytes()


def test_compare_tells_rounding_from_a_real_difference() -> None:
    base = {"entities": [(("Ada", "PERSON", None, None), 2, None)],
            "entity_embeddings": [(("Ada", "PERSON", None, None), "dense:m", "Ada", _vec(0.6, 0.8))]}
    assert _compare(base, base) == {"equal": True, "differences": {}, "equal_but_rounding": False,
                                    "first_differences": []}
    rounded = {**base, "entity_embeddings": [(("Ada", "PERSON", None, None), "dense:m", "Ada", _vec(0.6001, 0.7999))]}
    c = _compare(base, rounded)
    assert (c["equal"], c["equal_but_rounding"], c["differences"]) == (False, True, {"entity_embeddings": 2})
    assert c["vectors"]["entity_embeddings"]["paired"] == 1 and c["vectors"]["entity_embeddings"]["unpaired"] == 0
    assert all("b'…'" in line for line in c["first_differences"][1:])  # vector bytes elided
    turned = {**base, "entity_embeddings": [(("Ada", "PERSON", None, None), "dense:m", "Ada", _vec(0.8, -0.6))]}
    assert _compare(base, turned)["equal_but_rounding"] is False
    other = {**rounded, "entities": [(("Ada", "PERSON", None, None), 3, None)]}  # a count differs too
    c = _compare(base, other)
    assert c["equal_but_rounding"] is False and c["differences"] == {"entities": 2, "entity_embeddings": 2}
