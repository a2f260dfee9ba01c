"""``kg delete`` and ``kg ingest --sync [--dry-run]`` end to end, on real files and a real SQLite store."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result
from conftest import rows, snapshot, write

from kg.cli import cli


def kg(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env={"KG_DB": None}, prog_name="kg")


def corpus(folder: Path) -> None:
    write(folder, "curie.md", "# Marie Curie\n\nMarie Curie worked in Paris with Pierre Curie.\n")
    write(folder, "bohr.md", "# Niels Bohr\n\nNiels Bohr founded an institute in Copenhagen.\n")
    write(folder, "sub/meitner.txt", "Lise Meitner worked in Berlin with Otto Hahn.\n")


def sources(db: Path) -> set[str]:
    return {s for (s,) in rows(db, "SELECT source FROM documents")}


def test_sync_dry_run_prints_the_plan_and_changes_nothing_then_sync_applies_it(tmp_path: Path) -> None:
    folder, db = tmp_path / "docs", str(tmp_path / "kg.db")
    corpus(folder)
    assert kg("ingest", "--sync", str(folder), "--db", db, "-q").exit_code == 0
    write(folder, "curie.md", "# Marie Curie\n\nMarie Curie won two Nobel Prizes and lived in Paris.\n")
    (folder / "bohr.md").unlink()
    write(folder, "hahn.md", "# Otto Hahn\n\nOtto Hahn worked in Berlin.\n")
    before = snapshot(db)
    r = kg("ingest", "--sync", str(folder), "--dry-run", "--db", db, "--json")
    assert r.exit_code == 0, r.output
    plan = json.loads(r.stdout)
    resolved = folder.resolve()
    assert plan["add"] == [str(resolved / "hahn.md")]
    assert plan["replace"] == [str(resolved / "curie.md")]
    assert plan["delete"] == [str(resolved / "bohr.md")]
    assert plan["unchanged"] == 1
    assert snapshot(db) == before  # a dry run writes nothing
    r = kg("ingest", "--sync", str(folder), "--db", db, "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert (report["documents"], report["replaced"], report["deleted"], report["skipped"]) == (2, 1, 1, 1)
    assert sources(Path(db)) == {str(resolved / n) for n in ("curie.md", "hahn.md", "sub/meitner.txt")}
    assert rows(db, "SELECT count(*) FROM entities WHERE name = 'Niels Bohr'") == [(0,)]


def test_sync_needs_one_folder_and_dry_run_needs_sync(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    corpus(folder)
    db = str(tmp_path / "kg.db")
    r = kg("ingest", "--sync", str(folder / "curie.md"), "--db", db)
    assert r.exit_code == 2 and "not a folder" in r.output
    r = kg("ingest", "--sync", str(tmp_path / "missing"), "--db", db)
    assert r.exit_code == 2 and "no such folder" in r.output and "missing" in r.output
    r = kg("ingest", str(folder), "--dry-run", "--db", db)
    assert r.exit_code == 2 and "--dry-run goes with --sync" in r.output
    assert not Path(db).exists()


def test_delete_by_path_glob_and_id_with_a_clear_error_for_no_match(tmp_path: Path) -> None:
    folder, db = tmp_path / "docs", str(tmp_path / "kg.db")
    corpus(folder)
    assert kg("ingest", str(folder), "--db", db, "-q").exit_code == 0
    before = snapshot(db)
    r = kg("delete", str(folder / "curie.md"), "no/such/file.md", "--db", db)
    assert r.exit_code == 1
    assert "no document matches 'no/such/file.md'; nothing was deleted" in r.output
    assert "Traceback" not in r.output
    assert snapshot(db) == before
    r = kg("delete", str(folder / "*.md"), "--dry-run", "--db", db, "--json")
    assert r.exit_code == 0, r.output
    assert sorted(Path(d["source"]).name for d in json.loads(r.stdout)) == ["bohr.md", "curie.md"]
    assert snapshot(db) == before
    r = kg("delete", str(folder / "*.md"), "--db", db, "--json")
    assert r.exit_code == 0, r.output
    assert len(json.loads(r.stdout)["documents"]) == 2
    (doc_id,) = [i for (i,) in rows(db, "SELECT id FROM documents")]
    r = kg("delete", f"id:{doc_id}", "--db", db)
    assert r.exit_code == 0, r.output
    assert rows(db, "SELECT count(*) FROM documents") == [(0,)]
    assert rows(db, "SELECT count(*) FROM entities") == [(0,)]
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]
