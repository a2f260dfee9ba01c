"""Document lifecycle: after any mix of ingests, deletes and changed re-ingests, the store equals a from-scratch
build of the documents it ends with (modulo row ids): entities, aliases, mention counts, relations and weights,
index vectors, and search results.

The property test generates small corpora of documents that share people, places and organisations, so that
linking across documents, the gazetteer and relation weights all depend on which documents are present.
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

import pytest
from conftest import rows, write
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from index_checks import assert_parts_equal, parts_now

from kg.api import KGError, KnowledgeGraph
from store.fingerprint import differences, fingerprint

PEOPLE = ["Marie Curie", "Pierre Curie", "Albert Einstein", "Niels Bohr", "Lise Meitner", "Otto Hahn",
          "Ernest Rutherford", "Irène Joliot-Curie", "Paul Langevin", "Max Planck"]
PLACES = ["Paris", "Warsaw", "Berlin", "Copenhagen", "Vienna", "Manchester", "Zurich", "Stockholm"]
ORGS = ["the University of Paris", "the Radium Institute", "the Kaiser Wilhelm Institute", "Cambridge University",
        "the Royal Society", "the Nobel Committee"]
TEMPLATES = [
    "{p} was born in {c} and later moved to {c2}.",
    "{p} worked at {o} with {p2}.",
    "In 1911 {p} met {p2} in {c}.",
    "{p} lectured at {o} in {c}.",
    "{p} wrote to {p2} about the work done at {o}.",
    "{p2} visited {c} in the spring.",
    "Later, {p} received support from {o}.",
    "{p} and {p2} attended a conference in {c2}.",
]
QUERIES = ["Who worked at the Radium Institute?", "Marie Curie in Paris", "Niels Bohr Copenhagen conference"]


def make_text(seed: int, variant: int = 0) -> str:
    rnd = random.Random(seed * 7919 + variant)
    title = rnd.choice(PEOPLE + PLACES)
    lines = []
    for _ in range(rnd.randint(2, 5)):
        p, p2 = rnd.sample(PEOPLE, 2)
        c, c2 = rnd.sample(PLACES, 2)
        lines.append(rnd.choice(TEMPLATES).format(p=p, p2=p2, c=c, c2=c2, o=rnd.choice(ORGS)))
    if variant:
        lines.append(f"A revised account, edition {variant}, names {rnd.choice(PEOPLE)} as well.")
    return f"# {title}\n\n" + " ".join(lines) + "\n"


def state(kg: KnowledgeGraph) -> tuple[dict, dict]:
    with kg.db.engine.connect() as conn:
        fp = fingerprint(conn)
    results = {q: [(r.source, r.ord, round(r.score, 4)) for r in kg.search(q, k=5)] for q in QUERIES}
    return fp, results


def assert_same(a: tuple[dict, dict], b: tuple[dict, dict]) -> None:
    diff = differences(a[0], b[0])
    assert diff == [], "\n".join(diff[:40])
    for q in QUERIES:
        assert sorted(a[1][q], key=lambda r: (-r[2], r[0], r[1])) == sorted(b[1][q], key=lambda r: (-r[2], r[0], r[1]))


def build_from_scratch(folder: Path, db: Path) -> tuple[dict, dict]:
    with KnowledgeGraph(db) as kg:
        kg.ingest([folder])
        return state(kg)


def run_lifecycle(n_docs: int, seed: int, tmp: Path) -> None:
    rnd = random.Random(seed)
    folder = tmp / "docs"
    seeds = {f"doc{i:02d}.md": seed * 100 + i for i in range(n_docs)}
    for name, s in seeds.items():
        write(folder, name, make_text(s))
    names = sorted(seeds)
    rnd.shuffle(names)
    half = len(names) // 2
    with KnowledgeGraph(tmp / "live.db") as kg:
        kg.ingest([folder / n for n in names[:half]])  # a random half
        kg.ingest([folder / n for n in names[half:]])  # then the other half
        gone = rnd.sample(names, max(1, len(names) // 10))  # delete a random tenth
        kg.delete([str(folder / n) for n in gone])
        for n in gone:
            (folder / n).unlink()
        kept = [n for n in names if n not in gone]
        for n in rnd.sample(kept, min(2, len(kept))):  # re-ingest a few with changed text
            write(folder, n, make_text(seeds[n], variant=rnd.randint(1, 9)))
            kg.ingest([folder / n])
        live = state(kg)
        incremental, built, _ = parts_now(kg)  # the persisted index plus pending changes, against a build
        assert_parts_equal(incremental, built)
    assert_same(live, build_from_scratch(folder, tmp / "scratch.db"))


@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck),
          phases=[Phase.explicit, Phase.reuse, Phase.generate])  # a failing example is reported as drawn
@given(n_docs=st.integers(6, 12), seed=st.integers(0, 10_000))
def test_any_lifecycle_equals_a_from_scratch_build(n_docs: int, seed: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        run_lifecycle(n_docs, seed, Path(d))


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(n_docs=st.integers(6, 30), seed=st.integers(0, 10_000))
def test_any_lifecycle_equals_a_from_scratch_build_deep(n_docs: int, seed: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        run_lifecycle(n_docs, seed, Path(d))


def test_ingest_order_does_not_change_the_graph(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    for i in range(8):
        write(folder, f"d{i}.md", make_text(500 + i))
    files = sorted(folder.iterdir())
    with KnowledgeGraph(tmp_path / "forward.db") as kg:
        kg.ingest(files)
        forward = state(kg)
    with KnowledgeGraph(tmp_path / "backward.db") as kg:
        for f in reversed(files):  # one at a time: every document arrives knowing all the ones after it
            kg.ingest([f])
        backward = state(kg)
    assert_same(forward, backward)


def test_delete_removes_a_document_and_what_only_it_supported(tmp_path: Path) -> None:
    a = write(tmp_path, "a.md", "# Ada Lovelace\n\nAda Lovelace worked with Charles Babbage in London.\n")
    b = write(tmp_path, "b.md", "# Charles Babbage\n\nCharles Babbage lived in London and met Michael Faraday.\n")
    with KnowledgeGraph(tmp_path / "kg.db") as kg:
        kg.ingest([a, b])
        assert {"Ada Lovelace", "Michael Faraday"} <= {e.name for e in kg.entities()}
        report = kg.delete([str(a)])
        assert report.documents == [str(a.resolve())]
        assert report.chunks == 1 and report.mentions > 0
        names = {e.name for e in kg.entities()}
        assert "Ada Lovelace" not in names  # only a.md mentioned her
        assert {"Charles Babbage", "London", "Michael Faraday"} <= names  # b.md still does
        assert kg.entity("Charles Babbage").mention_count == rows(
            kg.path, "SELECT count(*) FROM mentions m JOIN entities e ON e.id = m.entity_id "
                     "WHERE e.name = 'Charles Babbage'")[0][0]
        assert rows(kg.path, "SELECT count(*) FROM relations r JOIN entities e ON e.id IN (r.head_id, r.tail_id) "
                             "WHERE e.name = 'Ada Lovelace'") == [(0,)]
        assert rows(kg.path, "PRAGMA foreign_key_check") == []
        assert [r.source for r in kg.search("Babbage London", k=3)] == [str(b.resolve())]


def test_delete_by_id_glob_and_unknown_selector(tmp_path: Path) -> None:
    for i in range(3):
        write(tmp_path / "docs", f"note{i}.txt", f"Grace Hopper visited Boston in 19{50 + i}.\n")
    with KnowledgeGraph(tmp_path / "kg.db") as kg:
        kg.ingest([tmp_path / "docs"], index=False)
        docs = {d.source: d.id for d in kg.documents()}
        before = rows(kg.path, "SELECT count(*) FROM documents")
        with pytest.raises(KGError, match="no document matches 'nothing-here.txt'"):
            kg.delete([str(tmp_path / "docs" / "note0.txt"), "nothing-here.txt"])
        assert rows(kg.path, "SELECT count(*) FROM documents") == before  # nothing deleted
        first = min(docs.values())
        assert len(kg.delete([f"id:{first}"]).documents) == 1
        assert len(kg.delete([str(tmp_path / "docs" / "note*.txt")]).documents) == 2
        assert rows(kg.path, "SELECT count(*) FROM documents") == [(0,)]
        assert rows(kg.path, "SELECT count(*) FROM entities") == [(0,)]
        assert rows(kg.path, "SELECT count(*) FROM chunks_fts") == [(0,)]


def test_a_changed_file_replaces_its_old_version_and_an_unchanged_one_is_skipped(tmp_path: Path) -> None:
    f = write(tmp_path, "x.md", "# Alan Turing\n\nAlan Turing worked at Bletchley Park.\n")
    with KnowledgeGraph(tmp_path / "kg.db") as kg:
        kg.ingest([f], index=False)
        assert kg.ingest([f], index=False).skipped == 1
        write(tmp_path, "x.md", "# Alan Turing\n\nAlan Turing studied at King's College in Cambridge.\n")
        report = kg.ingest([f], index=False)
        assert (report.documents, report.replaced) == (1, 1)
        names = {e.name for e in kg.entities()}
        assert "Bletchley Park" not in names and "Cambridge" in names
        assert rows(kg.path, "SELECT count(*) FROM documents") == [(1,)]


def test_a_new_name_relinks_stored_documents_that_contain_it(tmp_path: Path) -> None:
    """The gazetteer finds a name NER missed, whichever document arrived first."""
    plain = write(tmp_path, "plain.txt", "The meeting was chaired by Zorblat Quintero in the old hall.\n")
    named = write(tmp_path, "named.md", "# Zorblat Quintero\n\nZorblat Quintero is a chemist.\n")
    with KnowledgeGraph(tmp_path / "kg.db") as kg:
        kg.ingest([plain], index=False)
        report = kg.ingest([named], index=False)
        assert report.relinked >= 0
        mentions = rows(kg.path, "SELECT m.surface, e.name FROM mentions m JOIN chunks c ON c.id = m.chunk_id "
                                 "JOIN documents d ON d.id = c.document_id JOIN entities e ON e.id = m.entity_id "
                                 "WHERE d.source = ?", (str(plain.resolve()),))
        assert ("Zorblat Quintero", "Zorblat Quintero") in mentions
        assert rows(kg.path, "SELECT count(*) FROM relink_queue") == [(0,)]


def test_a_user_merge_survives_while_both_sides_exist(tmp_path: Path) -> None:
    a = write(tmp_path, "a.md", "# Sam Clemens\n\nSam Clemens piloted boats on the Mississippi.\n")
    b = write(tmp_path, "b.md", "# Mark Twain\n\nMark Twain wrote novels in Hartford.\n")
    c = write(tmp_path, "c.md", "# Hartford\n\nHartford is a city in Connecticut.\n")
    with KnowledgeGraph(tmp_path / "kg.db") as kg:
        kg.ingest([a, b, c], index=False)
        twain, clemens = kg.entity("Mark Twain").mention_count, kg.entity("Sam Clemens").mention_count
        kg.merge("Mark Twain", "Sam Clemens")
        d = write(tmp_path, "d.md", "# Riverboats\n\nSam Clemens learned the river from Horace Bixby.\n")
        kg.ingest([d], index=False)  # a new mention of the merged name resolves through the merge
        assert kg.entity("Mark Twain").mention_count == twain + clemens + 1
        kg.delete([str(d)])
        kg.delete([str(c)])  # unrelated to the merge, but it re-links what shared its names
        card = kg.entity("Mark Twain")
        assert card.mention_count == twain + clemens
        assert "Sam Clemens" in {a.alias for a in card.aliases}
        assert any(m["action"] == "merge" and not m["undone"] for m in kg.merge_log())
        kg.delete([str(a)])  # one side gone: the merge ends with it
        log = kg.merge_log()
        assert log[0]["action"] == "dissolved"
        assert kg.entity("Mark Twain").mention_count == twain
        assert "Sam Clemens" not in {e.name for e in kg.entities()}


def test_a_file_that_is_not_a_database_is_a_clear_error_and_stays_untouched(tmp_path: Path) -> None:
    bogus = write(tmp_path, "notes.db", "these are my notes, not SQLite\n" * 100)
    before = bogus.read_bytes()
    with pytest.raises(KGError, match="is not a kg store"):
        KnowledgeGraph(bogus)
    assert bogus.read_bytes() == before
