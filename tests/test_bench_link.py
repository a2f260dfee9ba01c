"""``kg bench link`` on the small linking gold set of ``link_gold``: the peer's figures worked out by hand from
the set, bounds for kg, the pair counting against enumeration, span matching, and dataset errors."""

from __future__ import annotations

import json
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from conftest import write
from link_gold import DOCS, records

from extract.normalize import normalize
from kg.bench.link import PEER, Spans, load_gold, pair_counts
from kg.cli import cli
from kg.loaders import clean

N_MENTIONS = sum(len(m) for _, _, m in DOCS)  # 73


def kg(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env={"KG_DB": None}, prog_name="kg")


def assert_user_error(r: Result, code: int, *fragments: str) -> None:
    assert r.exit_code == code, (r.output, r.exception)
    assert isinstance(r.exception, SystemExit), repr(r.exception)  # no exception escaped: no traceback
    lines = [line for line in r.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and all(f in lines[0] for f in fragments), r.stderr


def jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


@pytest.fixture(scope="module")
def gold_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("link-gold")
    write(d, "docs.jsonl", jsonl(records()))
    return d


@pytest.fixture(scope="module")
def result(gold_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One run over the whole set, also written with --out: the JSON on stdout and in the file are the same."""
    out = tmp_path_factory.mktemp("link-out") / "link.json"
    r = kg("bench", "link", str(gold_dir), "--processes", "1", "--out", str(out), "--json")
    assert r.exit_code == 0, (r.output, r.exception)
    data = json.loads(r.stdout)
    assert json.loads(out.read_text(encoding="utf-8")) == data
    return data


def test_the_gold_offsets_point_at_the_surfaces() -> None:
    for (_, text, mentions), rec in zip(DOCS, records(), strict=True):
        assert [(text[e["start"]:e["end"]], e["id"]) for e in rec["entities"]] == mentions
    assert N_MENTIONS == 73


def test_bench_link_counts_the_set(result: dict[str, Any], gold_dir: Path) -> None:
    assert result["dataset"] == str(gold_dir / "docs.jsonl")
    assert (result["documents"], result["gold_mentions"], result["errors"]) == (11, N_MENTIONS, 0)
    # 36 gold entities; half of them (Marie Curie, Paris, the United States, NASA...) recur across documents.
    assert (result["gold_entities"], result["gold_entities_in_several_documents"]) == (36, 18)


def test_peer_figures_are_what_exact_name_grouping_can_reach(result: dict[str, Any]) -> None:
    peer = result[PEER]
    # spaCy finds every gold mention, 18 of them with a leading "the" that normalize() strips again, so the
    # peer's groups are exactly the gold surfaces, normalised.
    assert peer["mention_recall_relaxed"] == 1.0 and peer["mention_recall_exact"] < 1.0
    assert peer["found_entities"] == 36
    # Cross-document pairs of one gold entity, by entity: Marie Curie 7 (5 mentions in 3 documents), Pierre Curie
    # 2, Paris 5, University of Paris 1, Nobel Prize 1, United Kingdom 1, Einstein 2, United States 14 (6 in 5),
    # IAS 3, Princeton 1, New Jersey 1, von Neumann 2, Manhattan Project 1, World War II 1, NASA 7 (5 in 3),
    # Eisenhower 2, Apollo 11 1, Armstrong 2: 54.
    # Spelled alike across documents: Marie Curie 1 (only "Marie Curie" twice; "Maria Skłodowska", "Marie
    # Skłodowska" and "Curie" are one-offs), Pierre Curie 2, Paris 5, University of Paris 1, Nobel Prize 1,
    # "UK"/"United Kingdom" 0, "Albert Einstein" 1, United States 7 ("United States" in 4 documents: 6, "U.S."
    # in 2: 1), IAS 1, Princeton 1, New Jersey 1, "John von Neumann" 1, Manhattan Project 1, World War II 1,
    # "NASA" 5 (4 mentions, two in one document), Eisenhower 1, Apollo 11 1, Armstrong 1: 32.
    # The name "Marie Curie" also joins the charity to the physicist's two other "Marie Curie": 2 false pairs.
    assert peer["pairs"]["cross_document"] == {"same_gold": 54, "same_pred": 34, "both": 32}
    assert peer["cross_doc_merge_recall"] == round(32 / 54, 4)
    assert peer["cross_doc_merge_precision"] == round(32 / 34, 4)
    # Within documents, 16 pairs of one entity (Marie Curie 3, Pierre Curie 1, Paris 1, Einstein 1, United States
    # 1, IAS 3, von Neumann 1, NASA 3, Eisenhower 1, Armstrong 1), of which only the repeats of "Pierre Curie",
    # "Paris", "IAS" and "NASA" are spelled alike; no two entities share a name within a document.
    assert peer["pairs"]["within_document"] == {"same_gold": 16, "same_pred": 4, "both": 4}
    assert (peer["within_doc_merge_recall"], peer["within_doc_merge_precision"]) == (0.25, 1.0)
    # Split over several names: Marie Curie, United Kingdom, Einstein, United States, IAS, von Neumann, NASA,
    # Eisenhower, Armstrong (9 of 36). Of the 46 distinct names, only "marie curie" holds two entities.
    assert peer["duplicate_rate"] == 0.25
    assert peer["conflated_rate"] == round(1 / 46, 4)


def test_kg_links_more_than_exact_names_and_conflates_no_more(result: dict[str, Any]) -> None:
    ours, peer = result["kg"], result[PEER]
    assert ours["mention_recall_relaxed"] >= 0.95
    assert ours["mention_recall_exact"] > peer["mention_recall_exact"]  # no leading articles in the graph's spans
    # Every pair exact names join, and more: "U.S." with "United States", "Von Neumann" and "Einstein" with the
    # full names, "IAS" with "Institute for Advanced Study".
    assert ours["pairs"]["cross_document"]["both"] > peer["pairs"]["cross_document"]["both"]
    assert ours["cross_doc_merge_recall"] >= 0.7
    assert ours["within_doc_merge_recall"] >= 0.6 > peer["within_doc_merge_recall"]
    # The only name two gold entities share is "Marie Curie": joining the charity to the physicist costs at most
    # one false pair per mention of the physicist (5) across documents; any further false pair is a wrong merge
    # ("Princeton" with "Princeton University", "Curie" with "Pierre Curie" or "Institut Curie").
    cross = ours["pairs"]["cross_document"]
    assert cross["same_pred"] - cross["both"] <= 5
    assert ours["pairs"]["within_document"]["same_pred"] - ours["pairs"]["within_document"]["both"] <= 1
    assert ours["duplicate_rate"] < peer["duplicate_rate"]
    assert ours["conflated_rate"] <= 0.05
    assert ours["graph_entities"] >= 30 and ours["seconds"] >= 0 and peer["seconds"] >= 0


def test_bench_link_limit_and_human_output(gold_dir: Path) -> None:
    h = kg("bench", "link", str(gold_dir / "docs.jsonl"), "--limit", "3", "--processes", "1")
    assert h.exit_code == 0, (h.output, h.exception)
    n = sum(len(m) for _, _, m in DOCS[:3])
    assert f"link: 3 documents, {n} gold mentions of 10 entities (4 in several documents)" in h.stdout
    for row in ("mention recall, exact span", "cross-doc merge F1", "within-doc merge recall", "duplicate rate",
                "conflated rate", "peer: NER + exact-name merge", "seconds"):
        assert row in h.stdout, row


# -- dataset errors -------------------------------------------------------------------------------------------
def test_bench_link_dataset_errors(tmp_path: Path) -> None:
    assert_user_error(kg("bench", "link", str(tmp_path)), 1, str(tmp_path), "docs.jsonl")
    assert_user_error(kg("bench", "link", str(tmp_path / "absent")), 2, "does not exist")
    write(tmp_path, "docs.jsonl", "\n")
    assert_user_error(kg("bench", "link", str(tmp_path)), 1, "no documents")


@pytest.mark.parametrize(("line", "fragments"), [
    ('{"id": "a", "text": "Paris", "entities": []}\n{broken\n', ("docs.jsonl:2", "malformed JSON")),
    ('{"id": "a", "text": "Paris is in France."}\n', ("document 1 (a)", '"entities"')),
    ('{"id": "a", "text": "Paris", "entities": [{"start": 0, "end": 5}]}\n', ("document 1 (a)", '"id"')),
    ('{"id": "a", "text": "Paris", "entities": [{"id": "Q90", "start": "0", "end": 5}]}\n', ("integer",)),
    ('{"id": "a", "text": "Paris", "entities": [{"id": "Q90", "start": 0, "end": 6}]}\n',
     ("'Q90' at 0:6", "outside the text (5 characters)")),
    ('{"id": "a", "text": "Paris", "entities": [{"id": "Q90", "start": 3, "end": 3}]}\n', ("outside the text",)),
])
def test_bench_link_malformed_dataset_is_a_user_error(tmp_path: Path, line: str, fragments: tuple[str, ...]) -> None:
    write(tmp_path, "docs.jsonl", line)
    assert_user_error(kg("bench", "link", str(tmp_path)), 1, "docs.jsonl", *fragments)


# -- helpers --------------------------------------------------------------------------------------------------
def test_load_gold_reads_records(gold_dir: Path) -> None:
    docs = load_gold(gold_dir / "docs.jsonl")
    assert [d.key for d in docs] == [f"d{i}" for i in range(11)]
    assert [d.id for d in docs][:2] == ["doc1", "doc2"] and docs[3].title == "Marie Curie (charity)"
    assert [(docs[0].text[a:b], g) for a, b, g in docs[0].mentions] == DOCS[0][2]
    assert len(load_gold(gold_dir / "docs.jsonl", limit=2)) == 2


def test_load_gold_follows_the_loaders_cleaning(tmp_path: Path) -> None:
    # The jsonl loader turns \r\n into \n, drops soft hyphens and zero-width spaces, and strips the text.
    text = "  Marie Cu\u00adrie moved to\r\nParis.\u200b Paris\r\n"
    second = text.rindex("Paris")
    ents = [{"id": "curie", "start": 2, "end": 14}, {"id": "paris", "start": text.index("Paris"), "end": second - 3},
            {"id": "paris", "start": second, "end": second + 5}, {"id": "nothing", "start": 0, "end": 2}]
    write(tmp_path, "docs.jsonl", jsonl([{"id": "a", "text": text, "entities": ents}]))
    [d] = load_gold(tmp_path / "docs.jsonl")
    assert d.text == "Marie Curie moved to\nParis. Paris" == clean(d.text)
    assert [(d.text[a:b], g) for a, b, g in d.mentions] == [("Marie Curie", "curie"), ("Paris", "paris"),
                                                          ("Paris", "paris")]


def _enumerated(found: list[tuple[int, str, Any]]) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """The same counts by looking at every pair: (across documents, within documents)."""
    tally = {True: [0, 0, 0], False: [0, 0, 0]}
    for (d1, g1, p1), (d2, g2, p2) in combinations(found, 2):
        t = tally[d1 != d2]
        t[0] += g1 == g2
        t[1] += p1 == p2
        t[2] += g1 == g2 and p1 == p2
    return tuple(tally[True]), tuple(tally[False])  # type: ignore[return-value]


@pytest.mark.parametrize("group", [
    lambda d, i, s, g: normalize(s),  # exact-name merge
    lambda d, i, s, g: g,  # perfect linking
    lambda d, i, s, g: (d, g),  # perfect within documents, nothing across
    lambda d, i, s, g: len(s) % 3,  # arbitrary, with many false pairs
])
def test_pair_counts_match_enumeration(group: Any) -> None:
    found = [(d, g, group(d, i, s, g)) for d, (_, _, mentions) in enumerate(DOCS)
             for i, (s, g) in enumerate(mentions)]
    across, within = pair_counts(found)
    assert ((across.same_gold, across.same_pred, across.both),
            (within.same_gold, within.same_pred, within.both)) == _enumerated(found)
    assert across.same_gold == 54 and within.same_gold == 16


def test_pair_counts_small_case() -> None:
    # Document 0: gold A twice, in groups x and y; document 1: gold A and gold B, both in x.
    across, within = pair_counts([(0, "A", "x"), (0, "A", "y"), (1, "A", "x"), (1, "B", "x")])
    assert (within.same_gold, within.same_pred, within.both) == (1, 1, 0)  # A split in 0; A and B joined in 1
    # Across: (A,x)-(A,x) joined, (A,y)-(A,x) split, (A,x) of document 0 falsely joined to (B,x).
    assert (across.same_gold, across.same_pred, across.both) == (2, 2, 1)
    assert across.scores() == {"precision": 0.5, "recall": 0.5, "f1": 0.5}
    assert pair_counts([]) == pair_counts([(0, "A", "x")])


def test_spans_match_exact_then_containment() -> None:
    spans = Spans([(0, 16, "the-ias"), (4, 16, "ias-full"), (30, 33, "us"), (40, 52, "partial"), (60, 200, "long")])
    assert spans.match(4, 16) == ("ias-full", "ias-full")  # exact wins over the longer containing span
    assert spans.match(0, 3) == (None, "the-ias")  # gold inside a predicted span
    assert spans.match(28, 35) == (None, "us")  # a predicted span inside the gold one
    assert spans.match(45, 58) == (None, None)  # crossing spans do not match
    assert spans.match(150, 160) == (None, "long")  # a long span that starts far before
    assert spans.match(210, 220) == (None, None)
    assert Spans([]).match(0, 5) == (None, None)
    assert Spans([(0, 2, "a"), (0, 4, "x")]).match(0, 3) == (None, "x")  # the larger overlap
