"""The command line as a careless user or an attacker uses it: globs that must not reach too far, deletes that
ask first, names that try to drive the terminal, user merges that must outlive edits, Ctrl-C, exit codes."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import ROOT, rows, write

from kg.api import KGConfig, KGError, KnowledgeGraph
from kg.cli import cli, safe

ESC_NAME = "\x1b]0;HACKED\x07evil\x1b[2J.txt"
RAW = ("\x1b", "\x07", "\x9b", "\u202e")


def kg(*args: str, cwd: Path | None = None, stdin: str | None = None) -> Result:
    old = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        return CliRunner().invoke(cli, list(args), env={"KG_DB": None}, prog_name="kg", input=stdin)
    finally:
        os.chdir(old)


def tree(root: Path) -> None:
    write(root, "notes/top.md", "Top notes\n\nMarie Curie was born in Warsaw.\n")
    write(root, "notes/draft.md", "Draft\n\nPierre Curie was born in Paris.\n")
    write(root, "notes/deep/inner.md", "Inner\n\nNiels Bohr was born in Copenhagen.\n")
    write(root, "other/far.md", "Far away\n\nEnrico Fermi was born in Rome.\n")
    write(root, "other/keep.txt", "Keep\n\nLise Meitner was born in Vienna.\n")


@pytest.fixture
def store(tmp_path: Path) -> Path:
    tree(tmp_path)
    db = tmp_path / "kg.db"
    with KnowledgeGraph(db, KGConfig()) as g:
        report = g.ingest([tmp_path / "notes", tmp_path / "other"], index=False)
    assert report.documents == 5
    return db


def sources(db: Path) -> list[str]:
    return sorted(Path(s).name for (s,) in rows(db, "SELECT source FROM documents"))


# -- deletes ------------------------------------------------------------------------------------------------------
def test_a_glob_is_relative_to_the_current_folder_and_star_never_crosses_a_slash(store: Path) -> None:
    root = store.parent
    r = kg("delete", "*.md", "--db", str(store), "--yes", cwd=root / "notes")
    assert r.exit_code == 0, r.output
    assert sources(store) == ["far.md", "inner.md", "keep.txt"]  # not notes/deep/inner.md, not other/far.md


def test_double_star_reaches_any_depth_and_relative_paths_work(store: Path) -> None:
    root = store.parent
    r = kg("delete", "notes/**/*.md", "--db", str(store), "--dry-run", cwd=root)
    assert r.exit_code == 0 and r.output.count("  - id:") == 3, r.output
    r = kg("delete", "other/far.md", "--db", str(store), cwd=root)
    assert r.exit_code == 0 and sources(store) == ["draft.md", "inner.md", "keep.txt", "top.md"]


def test_a_delete_of_several_documents_is_shown_and_asked_first(store: Path) -> None:
    root = store.parent
    before = sources(store)
    r = kg("delete", "notes", "--db", str(store), cwd=root, stdin="n\n")
    assert r.exit_code == 1 and "will delete 3 documents" in r.output and "inner.md" in r.output
    assert sources(store) == before
    r = kg("delete", "notes", "--db", str(store), cwd=root, stdin="y\n")
    assert r.exit_code == 0, r.output
    assert sources(store) == ["far.md", "keep.txt"]


def test_without_a_terminal_a_delete_of_several_documents_needs_yes(store: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("KG_DB", None)
    r = subprocess.run([sys.executable, "-m", "kg.cli", "delete", "*.md", "--db", str(store)],
                       cwd=store.parent / "notes", capture_output=True, text=True, stdin=subprocess.DEVNULL, env=env,
                       timeout=300)
    assert r.returncode == 1 and "--yes" in r.stderr and "draft.md" in r.stdout, (r.stdout, r.stderr)
    assert len(sources(store)) == 5


# -- terminal safety ----------------------------------------------------------------------------------------------
def test_safe_shows_control_and_bidi_characters_as_escapes() -> None:
    assert safe("a\x1b]0;X\x07b\u202ec\x9bd\tok\n") == "a\\x1b]0;X\\x07b\\u202ec\\x9bd\tok\n"


def test_nothing_printed_from_stored_data_can_drive_the_terminal(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    write(folder, ESC_NAME, "Marie Curie worked in Paris with Pierre Curie. \u202eMarie Curie was born in Warsaw.\n")
    db = str(tmp_path / "kg.db")
    r = kg("ingest", str(folder), "--db", db, "-q")
    assert r.exit_code == 0, r.output
    outputs = [kg("docs", "--db", db), kg("search", "Marie Curie", "--db", db, "-k", "2", "--explain"),
               kg("entity", "Marie Curie", "--db", db), kg("ask", "Where did Marie Curie work?", "--no-llm",
                                                             "--db", db),
               kg("docs", "--db", db, "--json"), kg("delete", "id:999", "--db", db)]
    for r in outputs:
        for raw in RAW:
            assert raw not in r.output, (raw, r.output)
    assert "\\x1b]0;HACKED\\x07" in outputs[0].output  # the name is shown, as escapes


# -- merges outlive edits -----------------------------------------------------------------------------------------
def test_a_user_merge_lasts_while_both_sides_have_mentions_and_its_end_is_reported(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    a = write(folder, "a.txt", "Lab diary\n\nMaria Salomea worked in Warsaw with her father.\n")
    b = write(folder, "b.txt", "Prize notes\n\nMarie Curie won the prize in Stockholm.\n")
    db = tmp_path / "kg.db"
    with KnowledgeGraph(db, KGConfig()) as g:
        g.ingest([folder], index=False)
        g.merge("Marie Curie", "Maria Salomea")
        b.write_text(b.read_text(encoding="utf-8") + "Marie Curie later lived in Paris.\n", encoding="utf-8")
        report = g.ingest([folder], index=False)
        assert report.replaced == 1 and report.dissolved_merges == []
        assert [m["action"] for m in g.merge_log()] == ["merge"]
        assert g.entity("Maria Salomea").name == "Marie Curie"
        a.write_text(a.read_text(encoding="utf-8") + "She kept a diary in Warsaw.\n", encoding="utf-8")
        assert g.ingest([folder], index=False).dissolved_merges == []
        assert g.entity("Maria Salomea").name == "Marie Curie"
        a.write_text("Lab diary\n\nThe diary was kept in Warsaw.\n", encoding="utf-8")
    r = kg("ingest", str(folder), "--db", str(db), "-q")
    assert r.exit_code == 0, r.output
    assert "merge of" in r.stderr and "Maria Salomea" in r.stderr and "dissolved" in r.stderr
    with KnowledgeGraph(db) as g:
        assert [m["action"] for m in g.merge_log()][0] == "dissolved"


# -- exit codes and messages --------------------------------------------------------------------------------------
def test_usage_mistakes_exit_2(store: Path, tmp_path: Path) -> None:
    for args in (["search", "", "--db", str(store)], ["search", "   ", "--db", str(store)],
                 ["ask", "", "--no-llm", "--db", str(store)], ["ingest", "--sync", str(tmp_path / "nowhere")]):
        r = kg(*args)
        assert r.exit_code == 2, (args, r.output)
    assert "no such folder" in kg("ingest", "--sync", str(tmp_path / "nowhere")).output


def test_kb_import_exits_1_when_it_skipped_lines(tmp_path: Path) -> None:
    kb = write(tmp_path, "kb.jsonl", '{"id": "Q1", "name": "Alpha"}\n{"id": "Q1", "name": "Beta"}\nnot json\n'
                                     '{"id": "Q2", "name": "Gamma", "type": "STAR"}\n')
    r = kg("kb", "import", str(kb), "--db", str(tmp_path / "kg.db"))
    assert r.exit_code == 1, r.output
    assert "repeated id 'Q1'" in r.stderr and "unknown type 'STAR'" in r.stderr and "malformed" not in r.stdout
    assert rows(tmp_path / "kg.db", "SELECT kb_id, name FROM entities") == [("Q1", "Alpha")]


def test_did_you_mean_only_for_close_names(store: Path) -> None:
    r = kg("entity", "Marie Curi", "--db", str(store))
    assert r.exit_code == 1 and "Did you mean: 'Marie Curie'" in r.stderr
    r = kg("entity", "Quantum Zebra", "--db", str(store))
    assert r.exit_code == 1 and "Did you mean" not in r.stderr


def test_docs_prints_the_whole_source_that_delete_takes(store: Path) -> None:
    root = store.parent
    r = kg("docs", "--db", str(store), cwd=root)
    assert r.exit_code == 0
    for line in ("notes/deep/inner.md", "other/keep.txt"):
        assert any(x.strip() == line for x in r.output.splitlines()), r.output
    assert kg("delete", "notes/deep/inner.md", "--db", str(store), cwd=root).exit_code == 0


def test_a_question_longer_than_the_context_budget_is_refused(store: Path) -> None:
    question = "Where was Marie Curie born? " + "Please consider every detail of this. " * 120
    with KnowledgeGraph(store) as g:
        g.config.answer.context_tokens = 256
        with pytest.raises(KGError, match="the question is .* tokens.*--context-tokens"):
            g.ask(question, extractive=True)
        g.config.answer.context_tokens = 4096
        assert g.ask(question, extractive=True).sources  # within the budget it is answered
    r = kg("ask", question, "--no-llm", "--context-tokens", "256", "--db", str(store))
    assert r.exit_code == 1 and "--context-tokens" in r.stderr


# -- Ctrl-C -------------------------------------------------------------------------------------------------------
def test_ctrl_c_during_an_ingest_exits_130_and_leaves_whole_documents(tmp_path: Path) -> None:
    folder = tmp_path / "many"
    for i in range(400):
        write(folder, f"doc{i:03d}.txt", f"Note {i}\n\nMarie Curie wrote letter {i} to Pierre Curie in Paris. "
                                         f"Niels Bohr answered from Copenhagen about experiment {i}.\n" * 3)
    db = tmp_path / "kg.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("KG_DB", None)
    proc = subprocess.Popen([sys.executable, "-m", "kg.cli", "ingest", str(folder), "--db", str(db), "--quiet",
                             "--processes", "2"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        time.sleep(0.5)
        try:
            if db.exists() and rows(db, "SELECT count(*) FROM documents")[0][0] >= 5:
                break
        except sqlite3.Error:
            pass
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal sends to the whole foreground group
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]
    counts = rows(db, "SELECT d.id, count(c.id) FROM documents d LEFT JOIN chunks c ON c.document_id = d.id "
                      "GROUP BY d.id")
    assert counts and all(n == 1 for _, n in counts)


def test_importing_the_cli_loads_no_heavy_library() -> None:
    code = ("import sys, kg.cli; print(json.dumps([m for m in ('torch', 'transformers', 'sentence_transformers', "
            "'spacy', 'langchain_core', 'networkx', 'scipy') if m in sys.modules]))")
    r = subprocess.run([sys.executable, "-c", "import json; " + code], cwd=ROOT, capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == []
