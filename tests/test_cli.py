"""The ``kg`` command line end to end: CliRunner over real SQLite files and the real spaCy model.

The sample corpus is ingested once per module through ``kg ingest`` (``sample``); tests on it only read. A test
that changes a store builds its own from a few short documents under its ``tmp_path``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import networkx as nx
import pytest
from click.testing import CliRunner, Result
from conftest import KB_SAMPLE, SAMPLE, SAMPLE_DOCS, read_graph, rows, snapshot, write

from kg.cli import cli

DOC = ("Lab Notes\n\nMarie Curie was born in Warsaw. Pierre Curie worked in Paris with Henri Becquerel. "
       "Madame Curie later taught at the Sorbonne.\n")
KB_LINES = sum(1 for line in KB_SAMPLE.read_text(encoding="utf-8").splitlines() if line.strip())


def kg(*args: str, env: dict[str, str | None] | None = None) -> Result:
    """Run ``kg ARGS`` in-process; KG_DB is cleared unless the test sets it, so no outside value leaks in."""
    return CliRunner().invoke(cli, list(args), env={"KG_DB": None, **(env or {})}, prog_name="kg")


def kg_json(*args: str, env: dict[str, str | None] | None = None) -> Any:
    r = kg(*args, "--json", env=env)
    assert r.exit_code == 0, (r.output, r.exception)
    return json.loads(r.stdout)


def assert_user_error(r: Result, code: int, *fragments: str) -> str:
    """A clean failure: the exit code, exactly one ``Error: ...`` line on stderr, no traceback, nothing on stdout."""
    assert r.exit_code == code, (r.output, r.exception)
    assert isinstance(r.exception, SystemExit), r.exception  # not an exception that escaped the command
    assert "Traceback" not in r.output
    assert r.stdout == ""
    lines = [line for line in r.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, r.stderr
    for f in fragments:
        assert f in lines[0], lines[0]
    return lines[0]


def table_rows(text: str) -> list[tuple[str, ...]]:
    """The cells of each row of a rich table as printed (box-drawing borders dropped)."""
    out = []
    for line in text.splitlines():
        if line.startswith("│"):
            out.append(tuple(c.strip() for c in line.strip("│").split("│")))
    return out


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The sample corpus ingested through the CLI once for this module: (database, first ingest report)."""
    db = tmp_path_factory.mktemp("cli-sample") / "sample.db"
    return db, kg_json("ingest", str(SAMPLE), "--db", str(db))


@pytest.fixture(scope="module")
def marie(sample: tuple[Path, dict[str, Any]]) -> dict[str, Any]:
    """The ``kg entity "Marie Curie" --json`` card of the sample database."""
    return kg_json("entity", "Marie Curie", "--db", str(sample[0]))


# -- ingest ---------------------------------------------------------------------------------------------------
def test_ingest_json_report_counts_match_the_store(sample: tuple[Path, dict[str, Any]]) -> None:
    db, r = sample
    assert (r["documents"], r["replaced"], r["skipped"], r["errors"], r["skipped_sources"]) == (SAMPLE_DOCS, 0, 0,
                                                                                             [], [])
    (n_chunks,), (n_mentions,), (n_entities,) = (rows(db, f"SELECT count(*) FROM {t}")[0]
                                                 for t in ("chunks", "mentions", "entities"))
    assert (r["chunks"], r["mentions"], r["entities"]) == (n_chunks, n_mentions, n_entities)
    assert r["chunks"] >= SAMPLE_DOCS and r["mentions"] > 300 and r["relations"] > 100
    assert r["seconds"] > 0


def test_second_ingest_skips_every_document_and_changes_nothing(sample: tuple[Path, dict[str, Any]]) -> None:
    db, _ = sample
    before = snapshot(db)
    r = kg_json("ingest", str(SAMPLE), "--db", str(db))
    assert (r["documents"], r["replaced"], r["skipped"], r["errors"]) == (0, 0, SAMPLE_DOCS, [])
    assert (r["chunks"], r["mentions"], r["entities"], r["relations"]) == (0, 0, 0, 0)
    assert len(r["skipped_sources"]) == SAMPLE_DOCS
    assert {s for (s,) in rows(db, "SELECT source FROM documents")} == set(r["skipped_sources"])
    assert snapshot(db) == before


def test_ingest_human_output_is_a_summary_table(tmp_path: Path) -> None:
    f = write(tmp_path, "notes.txt", DOC)
    db = tmp_path / "kg.db"
    r = kg("ingest", str(f), "--db", str(db), "-q")
    assert r.exit_code == 0, r.output
    assert f"Ingested into {db}" in r.stdout
    table = dict(table_rows(r.stdout))
    assert (table["documents"], table["replaced"], table["failed"], table["chunks"]) == ("1", "0", "0", "1")
    assert table["mentions"] == str(rows(db, "SELECT count(*) FROM mentions")[0][0])
    assert rows(db, "SELECT title FROM documents") == [("Lab Notes",)]


# -- inspection -----------------------------------------------------------------------------------------------
def test_stats_json_counts_every_table(sample: tuple[Path, dict[str, Any]]) -> None:
    db, report = sample
    s = kg_json("stats", "--db", str(db))
    assert s["path"] == str(db)
    assert s["documents"] == SAMPLE_DOCS
    assert s["chunks"] == rows(db, "SELECT count(*) FROM chunks")[0][0] == report["chunks"]
    assert s["mentions"] == rows(db, "SELECT count(*) FROM mentions")[0][0] == report["mentions"]
    assert s["entities"] == rows(db, "SELECT count(*) FROM entities WHERE merged_into_id IS NULL")[0][0]
    assert s["relations"] == rows(db, "SELECT count(*) FROM relations WHERE head_id != tail_id")[0][0]
    assert s["evidence"] == rows(db, "SELECT count(*) FROM relation_evidence")[0][0] > 0
    assert s["aliases"] == rows(db, "SELECT count(DISTINCT norm) FROM aliases")[0][0] > 0
    assert s["merges"] == 0


def test_docs_json_lists_every_document(sample: tuple[Path, dict[str, Any]]) -> None:
    db, _ = sample
    docs = kg_json("docs", "--db", str(db))
    assert len(docs) == SAMPLE_DOCS
    assert {d["id"] for d in docs} == {i for (i,) in rows(db, "SELECT id FROM documents")}
    by_title = {d["title"]: d for d in docs}
    assert by_title["Marie Curie (charity)"]["about"] == "Marie Curie"
    assert by_title["Marie Curie (charity)"]["source"].endswith("marie_curie_charity.md")
    assert "Nobel Prize in Physics 1903" in by_title
    stats = kg_json("stats", "--db", str(db))
    assert sum(d["chunks"] for d in docs) == stats["chunks"]
    assert sum(d["mentions"] for d in docs) == stats["mentions"]
    for d in docs:
        assert rows(db, "SELECT n_chars FROM documents WHERE id = ?", (d["id"],)) == [(d["chars"],)]


def test_entities_type_filter_and_top_ordering(sample: tuple[Path, dict[str, Any]]) -> None:
    db, _ = sample
    every = kg_json("entities", "--db", str(db))
    assert len(every) == kg_json("stats", "--db", str(db))["entities"]
    assert [(-e["mentions"], e["name"]) for e in every] == sorted((-e["mentions"], e["name"]) for e in every)
    top = kg_json("entities", "--top", "7", "--db", str(db))
    assert [e["id"] for e in top] == [e["id"] for e in every[:7]]

    people = kg_json("entities", "--type", "PERSON", "--top", "5", "--db", str(db))
    assert len(people) == 5 and {e["type"] for e in people} == {"PERSON"}
    assert people[0]["name"] == "Marie Curie"
    assert [e["id"] for e in people] == [e["id"] for e in every if e["type"] == "PERSON"][:5]
    for e in people:
        assert rows(db, "SELECT count(*), count(DISTINCT c.document_id) FROM mentions m JOIN chunks c "
                        "ON c.id = m.chunk_id WHERE m.entity_id = ?", (e["id"],)) == [(e["mentions"], e["documents"])]
    assert kg_json("entities", "--type", "person", "--top", "5", "--db", str(db)) == people  # case-insensitive
    assert kg_json("entities", "--type", "NOSUCHTYPE", "--db", str(db)) == []


def test_entity_card_json(sample: tuple[Path, dict[str, Any]], marie: dict[str, Any]) -> None:
    db, _ = sample
    c = marie
    assert (c["name"], c["type"], c["kb_id"]) == ("Marie Curie", "PERSON", None)
    assert c["mention_count"] == rows(db, "SELECT count(*) FROM mentions WHERE entity_id = ?", (c["id"],))[0][0] >= 30
    assert "Marie Curie" in {a["alias"] for a in c["aliases"]}
    assert all(a["count"] >= 1 for a in c["aliases"])
    assert [(s["name"], s["type"]) for s in c["same_name"]] == [("Marie Curie", "ORG")]  # the charity
    assert 0 < len(c["mentions"]) <= 5  # --mentions defaults to 5
    for m in c["mentions"]:
        assert f"[{m['surface']}]" in m["snippet"]
    titles = {d["title"] for d in c["documents"]}
    assert "Marie Curie" in titles and len(c["documents"]) >= 10
    assert c["relations"]
    for r in c["relations"]:
        assert c["id"] in (r["head_id"], r["tail_id"]) and r["head_id"] != r["tail_id"]
        assert r["predicate"] and r["weight"] > 0
        assert r["evidence"]
        for ev in r["evidence"]:
            assert ev["sentence"].strip() and ev["document"] in titles
            assert rows(db, "SELECT count(*) FROM chunks WHERE id = ?", (ev["chunk_id"],)) == [(1,)]
    two = kg_json("entity", "Marie Curie", "--mentions", "2", "--db", str(db))
    assert len(two["mentions"]) == 2 and two["mentions"] == c["mentions"][:2]


def test_entity_by_id(sample: tuple[Path, dict[str, Any]], marie: dict[str, Any]) -> None:
    db, _ = sample
    by_id = kg_json("entity", f"id:{marie['id']}", "--db", str(db))
    assert (by_id["id"], by_id["name"], by_id["mention_count"]) == (marie["id"], "Marie Curie", marie["mention_count"])
    charity = marie["same_name"][0]
    other = kg_json("entity", f"id:{charity['id']}", "--db", str(db))
    assert (other["name"], other["type"]) == ("Marie Curie", "ORG")


def test_entity_human_output(sample: tuple[Path, dict[str, Any]], marie: dict[str, Any]) -> None:
    r = kg("entity", "Marie Curie", "--db", str(sample[0]))
    assert r.exit_code == 0, r.output
    first = r.stdout.splitlines()[0]
    assert first.startswith("Marie Curie") and "(PERSON)" in first and f"id:{marie['id']}" in first
    assert "relations" in r.stdout and "documents" in r.stdout and "aliases" in r.stdout
    assert marie["relations"][0]["evidence"][0]["sentence"] in r.stdout


def test_neighbors_two_hops(sample: tuple[Path, dict[str, Any]]) -> None:
    db, _ = sample
    h = kg_json("neighbors", "Warsaw", "--hops", "2", "--db", str(db))
    me = h["entity"]["id"]
    assert h["entity"]["name"] == "Warsaw" and h["hops"] == 2
    ids = [n["id"] for n in h["neighbors"]]
    assert me not in ids and len(ids) == len(set(ids))
    assert {n["hops"] for n in h["neighbors"]} == {1, 2}
    assert [n["hops"] for n in h["neighbors"]] == sorted(n["hops"] for n in h["neighbors"])
    assert all(n["via"] for n in h["neighbors"])
    direct = {t if hd == me else hd for hd, t in rows(db, "SELECT head_id, tail_id FROM relations WHERE head_id "
                                                          "!= tail_id AND ? IN (head_id, tail_id)", (me,))}
    assert {n["id"] for n in h["neighbors"] if n["hops"] == 1} == direct
    names = {n["name"] for n in h["neighbors"]} | {"Warsaw"}
    assert h["edges"] and all(e[0] in names and e[2] in names for e in h["edges"])
    one = kg_json("neighbors", "Warsaw", "--db", str(db))  # --hops defaults to 1
    assert one["hops"] == 1 and {n["id"] for n in one["neighbors"]} == direct


@pytest.mark.parametrize("fmt", ["graphml", "gexf", "json"])
def test_export_formats_read_back_with_networkx(sample: tuple[Path, dict[str, Any]], tmp_path: Path,
                                                fmt: str) -> None:
    db, _ = sample
    out = tmp_path / f"graph.{fmt}"
    info = kg_json("export", "--format", fmt.upper(), "--out", str(out), "--db", str(db))
    stats = kg_json("stats", "--db", str(db))
    assert (info["path"], info["format"]) == (str(out), fmt)
    assert (info["nodes"], info["edges"]) == (stats["entities"], stats["relations"])
    back = read_graph(out, fmt)
    assert (back.number_of_nodes(), back.number_of_edges()) == (stats["entities"], stats["relations"])
    names = sorted(str(d.get("name", d.get("label"))) for _, d in back.nodes(data=True))
    assert names == sorted(n for (n,) in rows(db, "SELECT name FROM entities WHERE merged_into_id IS NULL"))


def test_export_human_output(sample: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    out = tmp_path / "g.graphml"
    r = kg("export", "--out", str(out), "--db", str(sample[0]))  # graphml by default
    stats = kg_json("stats", "--db", str(sample[0]))
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == (f"wrote {out} (graphml): {stats['entities']} entities, "
                                f"{stats['relations']} relations")
    assert nx.read_graphml(out).number_of_nodes() == stats["entities"]


# -- curation and knowledge base on stores of their own -------------------------------------------------------
def test_merge_then_unmerge_restores_counts_and_logs_both(tmp_path: Path) -> None:
    db = str(tmp_path / "kg.db")
    kg_json("ingest", str(write(tmp_path, "notes.txt", DOC)), "--db", db)
    before = kg_json("stats", "--db", db)
    names = {e["name"]: e for e in kg_json("entities", "--db", db)}
    pierre, henri = names["Pierre Curie"], names["Henri Becquerel"]
    assert kg_json("merges", "--db", db) == []

    m = kg_json("merge", "Pierre Curie", "Henri Becquerel", "--db", db)
    assert m["action"] == "merge" and m["log_id"] == 1
    assert (m["kept"]["id"], m["merged"]["id"]) == (pierre["id"], henri["id"])
    assert m["mentions_moved"] == henri["mentions"] == 1 and m["aliases_moved"] >= 1
    assert (m["kept"]["mentions"], m["merged"]["mentions"]) == (pierre["mentions"] + 1, 0)
    mid = kg_json("stats", "--db", db)
    assert (mid["entities"], mid["merges"], mid["mentions"]) == (before["entities"] - 1, 1, before["mentions"])
    assert "Henri Becquerel" not in {e["name"] for e in kg_json("entities", "--db", db)}
    assert kg_json("entity", "Henri Becquerel", "--db", db)["id"] == pierre["id"]  # the alias moved with it
    assert rows(db, "SELECT merged_into_id FROM entities WHERE id = ?", (henri["id"],)) == [(pierre["id"],)]
    log = kg_json("merges", "--db", db)
    assert [(x["action"], x["kept"], x["merged"], x["undone"]) for x in log] == [
        ("merge", "Pierre Curie", "Henri Becquerel", False)]

    u = kg_json("unmerge", "Henri Becquerel", "--db", db)
    assert u["action"] == "unmerge" and u["log_id"] == 2
    assert (u["kept"]["id"], u["merged"]["id"], u["mentions_moved"]) == (pierre["id"], henri["id"], 1)
    assert (u["kept"]["mentions"], u["merged"]["mentions"]) == (pierre["mentions"], henri["mentions"])
    after = kg_json("stats", "--db", db)
    assert after == before
    assert {e["name"]: e["mentions"] for e in kg_json("entities", "--db", db)} == {
        n: e["mentions"] for n, e in names.items()}
    log = kg_json("merges", "--db", db)
    assert [(x["id"], x["action"], x["kept_id"], x["merged_id"], x["undone"]) for x in log] == [
        (2, "unmerge", pierre["id"], henri["id"], False), (1, "merge", pierre["id"], henri["id"], True)]

    assert_user_error(kg("unmerge", "Henri Becquerel", "--db", db), 1, "has no merge to undo")


def test_merge_human_output_names_the_undo_command(tmp_path: Path) -> None:
    db = str(tmp_path / "kg.db")
    kg_json("ingest", str(write(tmp_path, "notes.txt", DOC)), "--db", db)
    ids = {e["name"]: e["id"] for e in kg_json("entities", "--db", db)}
    r = kg("merge", f"id:{ids['Warsaw']}", "Paris", "--db", db)
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(f"merged id:{ids['Paris']} Paris (GPE) into id:{ids['Warsaw']} Warsaw (GPE)")
    assert f"Undo with: kg unmerge id:{ids['Paris']}" in r.stdout
    u = kg_json("unmerge", f"id:{ids['Paris']}", "--db", db)
    assert (u["action"], u["merged"]["name"], u["merged"]["mentions"]) == ("unmerge", "Paris", 1)
    assert kg_json("stats", "--db", db)["merges"] == 0


def test_kb_import_creates_then_updates(tmp_path: Path) -> None:
    db = str(tmp_path / "kg.db")
    first = kg_json("kb", "import", str(KB_SAMPLE), "--db", db)
    assert first == {"created": KB_LINES, "updated": 0, "errors": []}
    again = kg_json("kb", "import", str(KB_SAMPLE), "--db", db)
    assert again == {"created": 0, "updated": KB_LINES, "errors": []}
    ents = kg_json("entities", "--db", db)
    assert len(ents) == KB_LINES and all(e["kb_id"] for e in ents)
    sorbonne = kg_json("entity", "Sorbonne", "--db", db)  # an alias from the knowledge base
    assert (sorbonne["name"], sorbonne["type"], sorbonne["kb_id"]) == ("University of Paris", "ORG", "Q209842")
    assert sorbonne["description"] == "French university (c. 1150–1970)"
    # Linking prefers the seeded entities: no second Paris or Warsaw appears.
    kg_json("ingest", str(write(tmp_path, "notes.txt", DOC)), "--db", db)
    for name, qid in [("Paris", "Q90"), ("Warsaw", "Q270")]:
        card = kg_json("entity", name, "--db", db)
        assert (card["kb_id"], card["mention_count"], card["same_name"]) == (qid, 1, [])


def test_kb_import_human_output_and_bad_lines(tmp_path: Path) -> None:
    kb = write(tmp_path, "kb.jsonl", '{"id": "Q90", "name": "Paris", "type": "GPE"}\n'
                                     "not json\n"
                                     '{"id": "Q64", "aliases": ["Berlin"]}\n'
                                     '{"id": "Q64", "name": "Berlin", "type": "gpe"}\n')
    db = str(tmp_path / "kg.db")
    r = kg("kb", "import", str(kb), "--db", db)
    assert r.exit_code == 1, r.output  # lines were skipped
    assert r.stdout.strip() == "knowledge base: 2 entities created, 0 updated"
    errors = [line for line in r.stderr.splitlines() if line.startswith("error")]
    assert len(errors) == 2 and f"{kb}:2: skipped" in errors[0] and f"{kb}:3: skipped" in errors[1]
    assert sorted(rows(db, "SELECT name, type, kb_id FROM entities")) == [("Berlin", "GPE", "Q64"),
                                                                         ("Paris", "GPE", "Q90")]
    r = kg("kb", "import", str(kb), "--db", db, "--json")
    report = json.loads(r.stdout)
    assert r.exit_code == 1 and (report["created"], report["updated"]) == (0, 2)
    assert [e["where"] for e in report["errors"]] == [f"{kb}:2", f"{kb}:3"]
    only_bad = write(tmp_path, "bad.jsonl", "[1, 2]\n")
    assert_user_error(kg("kb", "import", str(only_bad), "--db", db), 1, str(only_bad), "no valid entity lines")
    assert_user_error(kg("kb", "import", str(tmp_path / "missing.jsonl"), "--db", db), 1,
                      "missing.jsonl", "cannot read knowledge base")


# -- where the database is ------------------------------------------------------------------------------------
def test_db_option_on_the_group_on_the_command_and_from_kg_db(sample: tuple[Path, dict[str, Any]],
                                                             tmp_path: Path) -> None:
    db = str(sample[0])
    missing = str(tmp_path / "missing.db")
    on_group = kg("--db", db, "stats", "--json")
    assert on_group.exit_code == 0, on_group.output
    s = json.loads(on_group.stdout)
    assert s["path"] == db and s["documents"] == SAMPLE_DOCS
    assert kg_json("stats", "--db", db) == s
    assert kg_json("stats", env={"KG_DB": db}) == s
    assert kg_json("--db", missing, "stats", "--db", db) == s  # the command's --db wins over the group's
    assert kg_json("--db", db, "stats", env={"KG_DB": missing}) == s  # --db wins over $KG_DB
    assert [d["id"] for d in kg_json("docs", env={"KG_DB": db})] == [d["id"] for d in kg_json("docs", "--db", db)]
    assert_user_error(kg("stats", env={"KG_DB": missing}), 1, f"database {missing} does not exist")
    assert not Path(missing).exists()


def test_default_database_is_kg_db_in_the_working_directory(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert_user_error(kg("stats"), 1, "database kg.db does not exist", "kg ingest PATH --db kg.db")
    kg_json("ingest", str(write(tmp_path, "notes.txt", DOC)))
    assert (tmp_path / "kg.db").is_file()
    assert kg_json("stats")["documents"] == 1


# -- help -----------------------------------------------------------------------------------------------------
def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            found += _command_paths(cmd, prefix + (name,))
        else:
            found.append(prefix + (name,))
    return found


HELP_CASES = [pytest.param(p, id=" ".join(p) or "kg") for p in _command_paths(cli)]


@pytest.mark.parametrize("path", HELP_CASES)
def test_every_help_text_has_an_example(path: tuple[str, ...]) -> None:
    for flag in ("--help", "-h"):
        r = kg(*path, flag)
        assert r.exit_code == 0, r.output
        assert r.stdout.startswith(f"Usage: kg {' '.join(path)}".rstrip())
        assert "Example:" in r.stdout
        assert "kg " in r.stdout.split("Example:", 1)[1]  # the example is a kg command line


def test_every_leaf_command_is_covered_by_the_help_test() -> None:
    leaves = {p for p in _command_paths(cli) if p and not isinstance(_lookup(p), click.Group)}
    assert leaves == {("ingest",), ("kb", "import"), ("stats",), ("docs",), ("entities",), ("entity",),
                      ("neighbors",), ("search",), ("ask",), ("export",), ("merge",), ("unmerge",), ("merges",),
                      ("delete",), ("index",), ("db", "current"), ("db", "upgrade"), ("bench", "cli"),
                      ("bench", "ingest"), ("bench", "extract"), ("bench", "link"), ("bench", "retrieval"),
                      ("bench", "qa"), ("bench", "lifecycle"), ("bench", "scale"), ("bench", "serve"),
                      ("fusions",), ("unfuse",), ("fuse",), ("serve",), ("config", "show")}


def _lookup(path: tuple[str, ...]) -> click.Command:
    cmd: click.Command = cli
    for name in path:
        assert isinstance(cmd, click.Group)
        cmd = cmd.commands[name]
    return cmd


# -- user errors ----------------------------------------------------------------------------------------------
def test_unknown_entity_suggests_close_names(sample: tuple[Path, dict[str, Any]]) -> None:
    db = str(sample[0])
    line = assert_user_error(kg("entity", "Mari Curi", "--db", db), 1, "No entity named 'Mari Curi'.",
                             "Did you mean:", "'Marie Curie'")
    assert line.startswith("Error: No entity named")
    line = assert_user_error(kg("neighbors", "Qwxzvbn Plokm", "--db", db), 1, "No entity named 'Qwxzvbn Plokm'.")
    assert "Did you mean" not in line
    assert_user_error(kg("entity", "id:999999", "--db", db), 1, "No entity named 'id:999999'")


def test_missing_database(tmp_path: Path) -> None:
    missing = tmp_path / "nope.db"
    for cmd in (["stats"], ["docs"], ["entities"], ["entity", "Paris"], ["merges"]):
        assert_user_error(kg(*cmd, "--db", str(missing)), 1, f"database {missing} does not exist",
                          "Build one first: kg ingest PATH")
    assert not missing.exists()


def test_database_path_that_is_a_folder(tmp_path: Path) -> None:
    assert_user_error(kg("stats", "--db", str(tmp_path)), 1, f"{tmp_path} is a directory")


def test_bad_export_format_and_missing_folder(sample: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    db = str(sample[0])
    assert_user_error(kg("export", "--format", "dot", "--out", str(tmp_path / "g.dot"), "--db", db), 2,
                      "Invalid value for '--format'", "'dot'")
    assert not (tmp_path / "g.dot").exists()
    assert_user_error(kg("export", "--out", str(tmp_path / "no" / "g.graphml"), "--db", db), 1,
                      f"folder {tmp_path / 'no'} does not exist")


@pytest.mark.parametrize("hops", ["0", "6", "two"])
def test_neighbors_hops_out_of_range(sample: tuple[Path, dict[str, Any]], hops: str) -> None:
    assert_user_error(kg("neighbors", "Warsaw", "--hops", hops, "--db", str(sample[0])), 2,
                      "Invalid value for '--hops'")


def test_ambiguous_merge_name_lists_the_ids(sample: tuple[Path, dict[str, Any]], marie: dict[str, Any]) -> None:
    db = str(sample[0])
    charity = marie["same_name"][0]["id"]
    line = assert_user_error(kg("merge", "Marie Curie", "Pierre Curie", "--db", db), 1,
                             "'Marie Curie' names several entities", f"id:{marie['id']} (PERSON)",
                             f"id:{charity} (ORG)", "Pick one with its id")
    assert line.count("id:") >= 2
    assert_user_error(kg("merge", "Pierre Curie", "Marie Curie", "--db", db), 1, "names several entities")
    assert_user_error(kg("merge", "Warsaw", "Warsaw", "--db", db), 1, "cannot merge 'Warsaw' with itself")
    assert kg_json("merges", "--db", db) == [] and kg_json("stats", "--db", db)["merges"] == 0


def test_ingest_missing_path_and_good_file(tmp_path: Path) -> None:
    good = write(tmp_path, "good.txt", DOC)
    missing = tmp_path / "absent.txt"
    db = str(tmp_path / "kg.db")
    r = kg("ingest", str(missing), str(good), "--db", db, "--json")
    assert r.exit_code == 1 and isinstance(r.exception, SystemExit) and "Traceback" not in r.output
    report = json.loads(r.stdout)
    assert report["documents"] == 1 and report["errors"] == [{"where": str(missing),
                                                               "reason": "no such file or directory"}]
    assert r.stderr.splitlines() == [f"error {missing}: no such file or directory"]
    assert [(Path(d["source"]).name, d["title"]) for d in kg_json("docs", "--db", db)] == [("good.txt", "Lab Notes")]
    # Without --json the summary table goes to stdout and the same error line to stderr.
    r = kg("ingest", str(good), str(missing), "--db", db, "-q")
    assert r.exit_code == 1 and "skipped (unchanged)" in r.stdout
    assert r.stderr.splitlines() == [f"error {missing}: no such file or directory"]


def test_ingest_binary_file_and_malformed_jsonl_line(tmp_path: Path) -> None:
    binary = write(tmp_path, "blob.txt", b"GIF89a\x00\x01\x02\x00binary")
    corpus = write(tmp_path, "c.jsonl", '{"id": "a", "text": "Paris is the capital of France."}\n'
                                        "{broken\n"
                                        '{"id": "b", "text": "Berlin is the capital of Germany."}\n')
    db = str(tmp_path / "kg.db")
    r = kg("ingest", str(binary), str(corpus), "--db", db, "-q")
    assert r.exit_code == 1 and isinstance(r.exception, SystemExit) and "Traceback" not in r.output
    errors = r.stderr.splitlines()
    assert len(errors) == 2
    assert errors[0] == f"error {binary}: binary file (contains NUL bytes), not text"
    assert errors[1].startswith(f"error {corpus}:2: malformed JSON")
    assert sorted(s.rsplit("#", 1)[1] for (s,) in rows(db, "SELECT source FROM documents")) == ["a", "b"]


def test_ingest_chunk_overlap_not_below_chunk_size_is_a_usage_error(tmp_path: Path) -> None:
    good = write(tmp_path, "good.txt", DOC)
    db = tmp_path / "kg.db"
    for size, overlap in [("100", "100"), ("100", "150")]:
        assert_user_error(kg("ingest", str(good), "--chunk-size", size, "--chunk-overlap", overlap, "--db", str(db)),
                          2, "Invalid value for --chunk-size/--chunk-overlap",
                          "chunk overlap must be between 0 and the chunk size")
    assert_user_error(kg("ingest", str(good), "--chunk-size", "10", "--db", str(db)), 2,
                      "Invalid value for '--chunk-size'")
    assert not db.exists()
    ok = kg_json("ingest", str(good), "--chunk-size", "60", "--chunk-overlap", "0", "--db", str(db))
    assert ok["documents"] == 1 and ok["chunks"] >= 2  # ~150 characters of body in chunks of at most 60
    assert max(n for (n,) in rows(db, "SELECT length(text) FROM chunks")) <= 60


def test_ingest_small_chunk_size_alone_is_accepted(tmp_path: Path) -> None:
    good = write(tmp_path, "good.txt", DOC)
    r = kg("ingest", str(good), "--chunk-size", "100", "--db", str(tmp_path / "kg.db"), "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["documents"] == 1


def test_ingest_errors_are_capped_per_file_and_printed_verbatim(tmp_path: Path) -> None:
    # 150 malformed lines beside one good one: five lines printed for the file, then a count; the JSON report
    # keeps all of them. "file:100:" must print as written, not as an emoji code.
    lines = ["{broken"] * 150 + ['{"id": "ok", "text": "Marie Curie lived in Paris."}']
    corpus = write(tmp_path, "c.jsonl", "\n".join(lines) + "\n")
    db = str(tmp_path / "kg.db")
    r = kg("ingest", str(corpus), "--db", db, "--quiet")
    assert r.exit_code == 1
    errors = [line for line in r.stderr.splitlines() if line.startswith("error")]
    assert len(errors) == 6 and errors[-1] == f"error {corpus}: 145 more errors (see --json)"
    assert "💯" not in r.stderr
    report = json.loads(kg("ingest", str(corpus), "--db", str(tmp_path / "other.db"), "--json").stdout)
    assert len(report["errors"]) == 150 and report["documents"] == 1
    assert f"{corpus}:100" in {e["where"] for e in report["errors"]}


# -- search ---------------------------------------------------------------------------------------------------
def test_search_json_ranks_chunks_with_their_breakdown(sample: tuple[Path, dict[str, Any]]) -> None:
    db = str(sample[0])
    r = kg_json("search", "Who found that bombarding uranium with neutrons produced barium?", "-k", "4", "--db", db)
    assert r["mode"] == "hybrid" and len(r["results"]) == 4
    top = r["results"][0]
    assert top["title"] == "Otto Hahn" and top["rank"] == 1
    assert set(top["scores"]) == {"sparse", "graph"}  # no dense embeddings in this store
    assert abs(top["score"] - sum(top["scores"].values())) < 1e-4
    assert {"bari", "uranium"} <= {m["label"] for m in top["matches"] if m["kind"] == "word"}
    (chunk_text,) = rows(db, "SELECT text FROM chunks WHERE id = ?", (top["chunk_id"],))[0]
    assert top["text"] == chunk_text
    assert isinstance(r["query_entities"], list) and r["seconds"] > 0


def test_search_explain_prints_word_pieces_entities_and_a_graph_path(sample: tuple[Path, dict[str, Any]]) -> None:
    r = kg("search", "What did Irène Joliot-Curie win?", "-k", "3", "--explain", "--db", str(sample[0]))
    assert r.exit_code == 0, r.output
    assert "query entities:" in r.stdout and "Irène Joliot-Curie" in r.stdout
    assert r.stdout.count("word pieces:") == 3 and "graph path:" in r.stdout and " → " in r.stdout
    assert r.stdout.splitlines()[1].startswith("1. ")


def test_search_user_mistakes_are_one_line_errors(sample: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    db = str(sample[0])
    assert_user_error(kg("search", "   ", "--db", db), 2, "empty")
    assert_user_error(kg("search", "radium", "--db", str(tmp_path / "none.db")), 1, "does not exist")
    r = kg("search", "radium", "--mode", "psychic", "--db", db)
    assert r.exit_code == 2 and "Invalid value for '--mode'" in r.stderr
    r = kg("search", "radium", "-k", "0", "--db", db)
    assert r.exit_code == 2 and "-k" in r.stderr
