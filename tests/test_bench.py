"""``kg bench ingest`` and ``kg bench extract`` on tiny datasets written here, plus the extract bench's helpers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from conftest import rows, write

from kg.bench.extract import GOLD_TYPES, _pairs, detokenize, load_gold
from kg.cli import cli

PASSAGES = [
    ("Marie Curie", "Marie Curie was a physicist and chemist born in Warsaw. She moved to Paris in 1891."),
    ("Pierre Curie", "Pierre Curie was a French physicist. He married Marie Curie in Paris in 1895."),
    ("Albert Einstein", "Albert Einstein was born in Ulm in Germany. He later worked in Bern and in Berlin."),
    ("Niels Bohr", "Niels Bohr was a Danish physicist from Copenhagen. He received the Nobel Prize in 1922."),
    ("Ernest Rutherford", "Ernest Rutherford was born in New Zealand. He led a laboratory in Manchester."),
    ("Isaac Newton", "Isaac Newton studied at the University of Cambridge. He was born in Lincolnshire."),
    ("Ada Lovelace", "Ada Lovelace worked with Charles Babbage in London on the Analytical Engine."),
    ("Alan Turing", "Alan Turing worked at Bletchley Park during the Second World War. He was born in London."),
    ("Barack Obama", "Barack Obama was born in Honolulu. He served as president of the United States."),
    ("Angela Merkel", "Angela Merkel grew up in Templin. She was chancellor of Germany from 2005 to 2021."),
    ("Nelson Mandela", "Nelson Mandela was born in Mvezo in South Africa. He was imprisoned on Robben Island."),
    ("Frida Kahlo", "Frida Kahlo was a painter from Mexico City. She married Diego Rivera in 1929."),
    ("Leonardo da Vinci", "Leonardo da Vinci was born in Vinci near Florence. He painted the Mona Lisa."),
    ("Wolfgang Amadeus Mozart", "Wolfgang Amadeus Mozart was born in Salzburg. He later lived in Vienna."),
    ("Rome", "Rome is the capital of Italy. The Colosseum stands in the centre of Rome."),
    ("Tokyo", "Tokyo is the capital of Japan. Tokyo hosted the Summer Olympics in 1964."),
    ("Cairo", "Cairo lies on the Nile in Egypt. The pyramids of Giza are close to Cairo."),
    ("Google", "Google was founded by Larry Page and Sergey Brin in California in 1998."),
    ("Microsoft", "Microsoft was founded by Bill Gates and Paul Allen in Albuquerque in 1975."),
    ("Amazon", "Amazon was founded by Jeff Bezos in Seattle in 1994."),
]

# Re-DocRED's dev_revised.json layout: sentences as token lists, gold entity clusters, labelled relations.
REDOCRED = [
    {
        "title": "Barack Obama",
        "sents": [["Barack", "Obama", "was", "born", "in", "Honolulu", ",", "Hawaii", "."],
                  ["Obama", "served", "as", "the", "44th", "president", "of", "the", "United", "States", "."],
                  ["He", "lives", "in", "Chicago", "with", "Michelle", "Obama", "."]],
        "vertexSet": [
            [{"name": "Barack Obama", "pos": [0, 2], "sent_id": 0, "type": "PER"},
             {"name": "Obama", "pos": [0, 1], "sent_id": 1, "type": "PER"}],
            [{"name": "Honolulu", "pos": [5, 6], "sent_id": 0, "type": "LOC"}],
            [{"name": "Hawaii", "pos": [7, 8], "sent_id": 0, "type": "LOC"}],
            [{"name": "United States", "pos": [8, 10], "sent_id": 1, "type": "LOC"}],
            [{"name": "44th", "pos": [4, 5], "sent_id": 1, "type": "NUM"}],  # not a scored type
            [{"name": "Chicago", "pos": [3, 4], "sent_id": 2, "type": "LOC"}],
            [{"name": "Michelle Obama", "pos": [5, 7], "sent_id": 2, "type": "PER"}],
        ],
        "labels": [{"h": 0, "t": 1, "r": "P19", "evidence": [0]}, {"h": 1, "t": 2, "r": "P131", "evidence": [0]},
                   {"h": 0, "t": 3, "r": "P27", "evidence": [1]}, {"h": 6, "t": 0, "r": "P26", "evidence": [2]},
                   {"h": 0, "t": 6, "r": "P26", "evidence": [2]}],
    },
    {
        "title": "Paris",
        "sents": [["Paris", "is", "the", "capital", "of", "France", "."],
                  ["The", "Eiffel", "Tower", "stands", "in", "Paris", "and", "was", "designed", "by", "Gustave",
                   "Eiffel", "."]],
        "vertexSet": [
            [{"name": "Paris", "pos": [0, 1], "sent_id": 0, "type": "LOC"},
             {"name": "Paris", "pos": [5, 6], "sent_id": 1, "type": "LOC"}],
            [{"name": "France", "pos": [5, 6], "sent_id": 0, "type": "LOC"}],
            [{"name": "Eiffel Tower", "pos": [1, 3], "sent_id": 1, "type": "LOC"}],
            [{"name": "Gustave Eiffel", "pos": [10, 12], "sent_id": 1, "type": "PER"}],
        ],
        "labels": [{"h": 0, "t": 1, "r": "P17", "evidence": [0]}, {"h": 2, "t": 0, "r": "P131", "evidence": [1]},
                   {"h": 2, "t": 3, "r": "P84", "evidence": [1]}],
    },
    {
        "title": "Google",
        "sents": [["Google", "was", "founded", "by", "Larry", "Page", "and", "Sergey", "Brin", "in", "1998", "."],
                  ["Google", "is", "headquartered", "in", "Mountain", "View", ",", "California", "."]],
        "vertexSet": [
            [{"name": "Google", "pos": [0, 1], "sent_id": 0, "type": "ORG"},
             {"name": "Google", "pos": [0, 1], "sent_id": 1, "type": "ORG"}],
            [{"name": "Larry Page", "pos": [4, 6], "sent_id": 0, "type": "PER"}],
            [{"name": "Sergey Brin", "pos": [7, 9], "sent_id": 0, "type": "PER"}],
            [{"name": "1998", "pos": [10, 11], "sent_id": 0, "type": "TIME"}],  # not a scored type
            [{"name": "Mountain View", "pos": [4, 6], "sent_id": 1, "type": "LOC"}],
            [{"name": "California", "pos": [7, 8], "sent_id": 1, "type": "LOC"}],
        ],
        "labels": [{"h": 0, "t": 1, "r": "P112", "evidence": [0]}, {"h": 0, "t": 2, "r": "P112", "evidence": [0]},
                   {"h": 0, "t": 3, "r": "P571", "evidence": [0]}, {"h": 0, "t": 4, "r": "P159", "evidence": [1]}],
    },
]
GOLD_MENTIONS = [7, 5, 6]  # PER/ORG/LOC/MISC mentions per document (NUM and TIME are not scored)
METRICS = ("mention_recall_exact", "mention_recall_relaxed", "merge_recall", "merge_precision", "merge_f1",
           "duplicate_entity_rate")


def kg(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env={"KG_DB": None}, prog_name="kg")


def kg_json(*args: str) -> Any:
    r = kg(*args, "--json")
    assert r.exit_code == 0, (r.output, r.exception)
    return json.loads(r.stdout)


def assert_user_error(r: Result, code: int, *fragments: str) -> None:
    assert r.exit_code == code, (r.output, r.exception)
    assert isinstance(r.exception, SystemExit), repr(r.exception)  # no exception escaped: no traceback
    lines = [line for line in r.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and all(f in lines[0] for f in fragments), r.stderr


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("musique-mini")
    write(d, "corpus.jsonl", "".join(json.dumps({"id": f"p{i}", "title": t, "text": x}) + "\n"
                                     for i, (t, x) in enumerate(PASSAGES)))
    return d


@pytest.fixture(scope="module")
def redocred_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("redocred-mini")
    write(d, "dev_revised.json", json.dumps(REDOCRED))
    return d


# -- kg bench ingest ------------------------------------------------------------------------------------------
def test_bench_ingest_json(corpus_dir: Path, tmp_path: Path) -> None:
    limit = 15
    r = kg_json("bench", "ingest", str(corpus_dir), "--limit", str(limit), "--processes", "1")
    texts = [x for _, x in PASSAGES[:limit]]
    assert r["dataset"] == str(corpus_dir / "corpus.jsonl")
    assert (r["passages"], r["chars"], r["processes"], r["parser"], r["errors"]) == (
        limit, sum(len(t) for t in texts), 1, True, 0)
    assert r["ratio_to_bare_ner"] > 0 and r["peak_rss_mib"] > 0 and r["bare_ner_peak_rss_mib"] > 0
    assert r["ingest_seconds"] > 0 and r["bare_ner_seconds"] > 0 and r["passages_per_second"] > 0
    assert r["mentions"] > limit and r["entities"] > limit and r["bare_ner_entities"] > limit
    assert r["chunks"] == limit  # every passage fits in one chunk
    assert r["db_mib"] >= 0
    # The bench builds what a plain `kg ingest` of the same passages builds.
    same = write(tmp_path, "same.jsonl", "".join(line + "\n" for line in
                                                 (corpus_dir / "corpus.jsonl").read_text().splitlines()[:limit]))
    db = str(tmp_path / "kg.db")
    kg_json("ingest", str(same), "--processes", "1", "--db", db)
    stats = kg_json("stats", "--db", db)
    assert {k: r[k] for k in ("chunks", "mentions", "entities", "relations")} == {
        k: stats[k] for k in ("chunks", "mentions", "entities", "relations")}
    assert rows(db, "SELECT count(*) FROM documents") == [(limit,)]


def test_bench_ingest_human_output_without_parser(corpus_dir: Path) -> None:
    r = kg("bench", "ingest", str(corpus_dir / "corpus.jsonl"), "--limit", "4", "--processes", "1", "--no-parser")
    assert r.exit_code == 0, (r.output, r.exception)
    assert "ingest: 4 passages" in r.stdout and "1 process(es), parser off" in r.stdout
    assert "bare spaCy NER (peer)" in r.stdout and "errors 0" in r.stdout


def test_bench_ingest_dataset_errors(tmp_path: Path) -> None:
    assert_user_error(kg("bench", "ingest", str(tmp_path)), 1, str(tmp_path), "corpus.jsonl")
    assert_user_error(kg("bench", "ingest", str(tmp_path / "absent")), 2, "does not exist")
    assert_user_error(kg("bench", "ingest", str(tmp_path), "--processes", "0"), 2, "'--processes'")


def test_bench_ingest_malformed_corpus_line_is_a_user_error(tmp_path: Path) -> None:
    write(tmp_path, "corpus.jsonl", '{"id": "a", "text": "Paris is in France."}\n{broken\n')
    assert_user_error(kg("bench", "ingest", str(tmp_path), "--processes", "1"), 1, "corpus.jsonl:2")


# -- kg bench extract -----------------------------------------------------------------------------------------
def test_bench_extract_json(redocred_dir: Path) -> None:
    r = kg_json("bench", "extract", str(redocred_dir))
    assert r["dataset"] == str(redocred_dir / "dev_revised.json")
    assert (r["documents"], r["gold_mentions"], r["errors"]) == (3, sum(GOLD_MENTIONS), 0)
    ours, peer = r["kg"], r["peer_spacy_ner_surface_match"]
    for side in (ours, peer):
        for k in METRICS:
            assert 0.0 <= side[k] <= 1.0, (k, side[k])
        assert side["mention_recall_relaxed"] >= side["mention_recall_exact"]
        assert side["seconds"] >= 0
    for k in ("relation_pair_recall", "relation_pair_precision"):
        assert 0.0 <= ours[k] <= 1.0
    # Obvious names (Barack Obama, Paris, Google, Larry Page, ...) are found, and repeats of one name
    # (Paris twice, Google twice) land on one graph entity.
    assert ours["mention_recall_relaxed"] >= 0.5 and ours["mention_recall_exact"] >= 0.5
    assert peer["mention_recall_relaxed"] >= 0.5
    # The peer groups by surface string, so of the three gold same-entity pairs (Barack Obama/Obama, Paris/Paris,
    # Google/Google) it can join only the two spelled alike; linking also joins Obama to Barack Obama.
    assert peer["merge_recall"] == round(2 / 3, 4) and peer["merge_precision"] == 1.0
    assert ours["merge_recall"] == 1.0
    assert ours["merge_recall"] >= 0.5 and ours["merge_precision"] >= 0.5
    assert ours["graph_entities"] >= 10
    assert ours["relation_pair_recall"] > 0


def test_bench_extract_limit_and_human_output(redocred_dir: Path) -> None:
    r = kg_json("bench", "extract", str(redocred_dir / "dev_revised.json"), "--limit", "1")
    assert (r["documents"], r["gold_mentions"]) == (1, GOLD_MENTIONS[0])
    h = kg("bench", "extract", str(redocred_dir), "--limit", "2")
    assert h.exit_code == 0, (h.output, h.exception)
    assert f"extract: 2 documents, {sum(GOLD_MENTIONS[:2])} gold PER/ORG/LOC/MISC mentions" in h.stdout
    assert "mention recall (exact span)" in h.stdout and "merge F1" in h.stdout


def test_bench_extract_dataset_errors(tmp_path: Path) -> None:
    assert_user_error(kg("bench", "extract", str(tmp_path)), 1, "dev_revised.json", "dev.json")


def test_bench_extract_malformed_dataset_is_a_user_error(tmp_path: Path) -> None:
    write(tmp_path, "dev_revised.json", '[{"title": "x", "sents": [["a"]]')
    assert_user_error(kg("bench", "extract", str(tmp_path)), 1, "dev_revised.json")


# -- helpers --------------------------------------------------------------------------------------------------
def test_detokenize_spacing_and_exact_offsets() -> None:
    sents = [["Barack", "Obama", "(", "born", "1961", ")", "is", "American", "."],
             ["He", "'s", "here", ",", "in", "Chicago", ";", "really", "!"],
             ["Prices", "rose", "5", "%", "[", "sic", "]", "."]]
    text, spans = detokenize(sents)
    assert text == "Barack Obama (born 1961) is American. He's here, in Chicago; really! Prices rose 5% [sic]."
    assert [len(s) for s in spans] == [len(s) for s in sents]
    for sent, offs in zip(sents, spans, strict=True):
        for tok, (a, b) in zip(sent, offs, strict=True):
            assert text[a:b] == tok
    flat = [ab for offs in spans for ab in offs]
    assert flat == sorted(flat) and all(b <= a2 for (_, b), (a2, _) in zip(flat, flat[1:]))
    assert detokenize([]) == ("", [])
    assert detokenize([["Hello"]]) == ("Hello", [[(0, 5)]])


def test_detokenize_offsets_on_every_test_document() -> None:
    for d in REDOCRED:
        text, spans = detokenize(d["sents"])
        for sent, offs in zip(d["sents"], spans, strict=True):
            assert [text[a:b] for a, b in offs] == sent


def test_load_gold_maps_mentions_to_text_spans(redocred_dir: Path) -> None:
    docs = load_gold(redocred_dir / "dev_revised.json")
    assert [d.key for d in docs] == ["d0", "d1", "d2"]
    assert [d.title for d in docs] == ["Barack Obama", "Paris", "Google"]
    assert [len(d.mentions) for d in docs] == GOLD_MENTIONS
    for d, raw in zip(docs, REDOCRED, strict=True):
        for a, b, ent, typ in d.mentions:
            assert typ in GOLD_TYPES
            assert d.text[a:b] in {m["name"] for m in raw["vertexSet"][ent]}
    obama = docs[0]
    assert obama.text.startswith("Barack Obama was born in Honolulu, Hawaii. Obama served")
    assert [ent for _, _, ent, _ in obama.mentions] == [0, 0, 1, 2, 3, 5, 6]  # cluster 4 (NUM) dropped
    # Unordered, deduplicated pairs: (6, 0) and (0, 6) are one pair.
    assert obama.relations == {(0, 1), (1, 2), (0, 3), (0, 6)}
    assert load_gold(redocred_dir / "dev_revised.json", limit=2)[-1].title == "Paris"


def test_pairs_counts_same_gold_same_pred_and_both() -> None:
    # Gold entities 0 (three mentions) and 1 (one); predicted groups "a" (two) and "b" (two).
    assign = [(0, "a"), (0, "a"), (0, "b"), (1, "b")]
    # same gold: (m0,m1) (m0,m2) (m1,m2) = 3; same pred: (m0,m1) (m2,m3) = 2; both: (m0,m1) = 1
    assert _pairs(assign) == (3, 2, 1)
    assert _pairs([]) == (0, 0, 0)
    assert _pairs([(0, 1)]) == (0, 0, 0)
    assert _pairs([(0, 1), (0, 1), (0, 1)]) == (3, 3, 3)  # perfect merge
    assert _pairs([(0, 1), (0, 2), (0, 3)]) == (3, 0, 0)  # every mention split off
    assert _pairs([(0, 9), (1, 9), (2, 9)]) == (0, 3, 0)  # everything lumped together
