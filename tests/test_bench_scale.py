"""``kg bench scale`` at tiny sizes on the first passages of MuSiQue-100: the JSON's figures, tenths and slopes,
entity counts that grow with the copies, consistent renaming in the corpora it writes, the plot and the table;
and the renaming functions on their own. No timing is asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from rich.console import Console

from kg.bench.scale import FIGURES, WORD, fresh_word, print_scale_bench, rename, renameable_words, word_maps
from kg.cli import cli

MUSIQUE = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "musique-100"
SIZES = (100, 200)
BASE = 50  # base passages: the sizes are 2 and 4 copies of them
pytestmark = pytest.mark.skipif(not (MUSIQUE / "corpus.jsonl").is_file(), reason=f"{MUSIQUE} is not here")


def kg(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env={"KG_DB": None}, prog_name="kg")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """One run at both sizes, keeping its corpora; the JSON it printed and the folder it kept."""
    d = tmp_path_factory.mktemp("scale")
    r = kg("bench", "scale", str(MUSIQUE), "--sizes", ",".join(map(str, SIZES)), "--base-limit", str(BASE),
           "--queries", "3", "--deletes", "1", "--processes", "1", "--keep", str(d / "keep"), "--json",
           "--out", str(d / "scale.json"), "--plot", str(d / "scale.png"))
    assert r.exit_code == 0, (r.output, r.exception)
    data = json.loads(r.stdout)
    assert json.loads((d / "scale.json").read_text(encoding="utf-8")) == data
    return data, d


def test_every_size_has_its_figures(run: tuple[dict[str, Any], Path]) -> None:
    r, _ = run
    assert (r["base_passages"], r["queries"], r["deletes"]) == (BASE, 3, 1)
    assert [s["passages"] for s in r["sizes"]] == list(SIZES)
    for s, copies in zip(r["sizes"], (2, 4)):
        assert s["copies"] == copies and s["corpus_passages"] == s["passages"]
        assert len(s["tenths"]) == 10 and sum(t["passages"] for t in s["tenths"]) == s["passages"]
        assert s["first_tenth_pps"] == s["tenths"][0]["pps"] > 0 and s["last_tenth_pps"] == s["tenths"][-1]["pps"] > 0
        for key in ("ingest_seconds", "bare_ner_seconds", "ratio_to_bare_ner", "model_load_seconds", "p50_ms",
                    "p95_ms", "delete_ms", "replace_ms", "db_mib", "peak_rss_mib", "search_peak_rss_mib"):
            assert s[key] > 0, key
        assert isinstance(s["cold_open_seconds"], float) and s["cold_total_seconds"] > s["model_load_seconds"]
        assert s["p50_ms"] == s["hybrid_p50_ms"] and all(f"{m}_p95_ms" in s for m in ("sparse", "graph", "hybrid"))
        assert len(s["delete_ms_each"]) == len(s["replace_ms_each"]) == 1
        assert s["index_mib"] >= 0 and s["chunks"] >= s["passages"]


def test_slopes_and_targets(run: tuple[dict[str, Any], Path]) -> None:
    r, _ = run
    assert set(r["slopes"]) == {k for k, _, _ in FIGURES}
    assert r["slopes"]["passages"] == 1.0
    assert r["slopes"]["ingest_seconds"] is not None and r["slopes"]["p50_ms"] is not None
    assert [x["from"] for x in r["slopes_between"]] == [SIZES[0]]
    assert {(x["figure"], x["rule"]) for x in r["targets"]} >= {("ratio_to_bare_ner", "every"),
                                                                 ("p50_ms", "slope_max"), ("delete_ms", "slope_max")}
    assert all(x["met"] in (True, False) for x in r["targets"])


def test_entities_grow_with_the_copies(run: tuple[dict[str, Any], Path]) -> None:
    small, large = run[0]["sizes"]
    assert large["corpus_names"] >= 1.9 * small["corpus_names"]  # fresh names in every copy
    assert large["entities"] >= 1.5 * small["entities"]  # and the store finds them as entities


def test_renaming_is_consistent_within_a_copy_and_fresh_across_copies(run: tuple[dict[str, Any], Path]) -> None:
    folder = run[1] / "keep" / f"corpus-{SIZES[-1]}"
    passages = {}
    for path in [*folder.glob("tenth-*.jsonl"), *folder.glob("docs/*.jsonl")]:
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            passages[row["id"]] = row
    assert len(passages) == SIZES[-1]
    mapping: dict[int, dict[str, str]] = defaultdict(dict)
    for pid, row in passages.items():
        copy, _, base = pid.partition(":")
        original = passages[f"0:{base}"]
        for field in ("title", "text"):
            a, b = original[field], row[field]
            assert WORD.sub("", a) == WORD.sub("", b)  # only whole words change
            for old, new in zip(WORD.findall(a), WORD.findall(b)):
                assert mapping[int(copy)].setdefault(old, new) == new, (pid, old)  # the same name every time
    renamed = {k: {o: n for o, n in m.items() if o != n} for k, m in mapping.items()}
    assert not renamed[0] and all(len(renamed[k]) > 50 for k in (1, 2, 3))
    for m in renamed.values():
        assert len(set(m.values())) == len(m)  # two names never become one
    for k in (2, 3):  # a word renamed in two copies gets two different names
        both = renamed[1].keys() & renamed[k].keys()
        assert both and all(renamed[1][w] != renamed[k][w] for w in both)
    titles = [(passages[f"0:{p}"]["title"], passages[f"1:{p}"]["title"]) for p in
              (pid.partition(":")[2] for pid in passages if pid.startswith("0:"))]
    assert sum(a != b for a, b in titles) >= 0.8 * len(titles)  # titles name their subject: mostly renamed


def test_plot_and_table(run: tuple[dict[str, Any], Path]) -> None:
    r, d = run
    assert (d / "scale.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    console = Console(record=True, width=200)
    print_scale_bench(r, console)
    text = console.export_text()
    assert "hybrid p50 ms" in text and "slope ≤ 0.5" in text and "≤ 2.5 at every size" in text
    assert f"{SIZES[0]:,}" in text and "tenths, passages/s" in text


def test_renaming_functions() -> None:
    rows = [{"id": "a", "title": "Marie Curie", "text": "Marie Curie studied in Paris. Curie was born in Warsaw, "
                                                         "then the University of Warsaw grew, as universities grow."},
            {"id": "b", "title": "Curieux", "text": "The Curieux family lived in the University of Paris."}]
    words = renameable_words(rows, ["Marie Curie", "Paris", "Warsaw", "University of Warsaw", "Curieux"])
    assert words == ["Curie", "Curieux", "Marie", "Paris", "Warsaw"]  # heads and stop words stay
    maps = word_maps(words, 4, {"Marie"})
    assert maps[0] == {} and word_maps(words, 2, {"Marie"}) == maps[:2]  # a copy never depends on later ones
    fresh = [w for m in maps[1:] for w in m.values()]
    assert len(set(fresh)) == len(fresh) and not set(fresh) & set(words)
    text = rename(rows[0]["text"], maps[1])
    assert text.startswith(f"{maps[1]['Marie']} {maps[1]['Curie']} studied in {maps[1]['Paris']}. "
                           f"{maps[1]['Curie']} was born")
    assert f"University of {maps[1]['Warsaw']}" in text and "universities" in text
    assert rename("Curieux", {"Curie": "X"}) == "Curieux"  # whole words only
    assert fresh_word("Curie", 1) == fresh_word("Curie", 1) != fresh_word("Curie", 2)
    assert fresh_word("NASA", 1).isupper() and len(fresh_word("NASA", 1)) == 4
    assert fresh_word("Curie", 1)[0].isupper() and fresh_word("Curie", 1)[1:].islower()


def test_acronyms_get_fresh_names_in_as_many_copies_as_100000_passages_need() -> None:
    # there are few fresh acronyms of three letters: an acronym grows a letter instead of looking for a free
    # one for ever
    words = [a + b + c for a in "ABCD" for b in "NOP" for c in "XYZ"] + ["Ada", "Curie"]
    maps = word_maps(words, 60, set(words))
    fresh = [w for m in maps[1:] for w in m.values()]
    assert len(fresh) == 59 * len(words) and len(set(map(str.lower, fresh))) == len(fresh)
    assert all(m[w].isupper() and 3 <= len(m[w]) <= 5 for m in maps[1:] for w in words[:-2])
    assert all(len(m["ANX"]) == 3 for m in maps[1:3])  # the length is kept while there is room
    assert all(m["Ada"][0].isupper() and m["Ada"][1:].islower() for m in maps[1:])


def test_the_search_process_imports_no_model_library_before_its_models_are_timed() -> None:
    # the cold open counts from the process's start: the bench's own imports must not add spaCy or torch to it
    code = ("import json, sys, kg.bench.scale; print(json.dumps([m for m in ('torch', 'transformers', 'spacy', "
            "'sentence_transformers') if m in sys.modules]))")
    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(root)})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == []


def test_sizes_mistakes_name_the_fix(tmp_path: Path) -> None:
    r = kg("bench", "scale", str(MUSIQUE), "--sizes", "2000,lots")
    assert r.exit_code == 2 and "--sizes" in r.output and "separated by commas" in r.output
    r = kg("bench", "scale", str(MUSIQUE), "--sizes", "20", "--keep", str(tmp_path))
    assert r.exit_code == 1 and "at least 50 passages" in r.output
