"""Stores that kg must not harm: read-only media, another program's SQLite file, damaged files, older schemas,
and two write commands at once.

Read-only media are real: as root (who ignores file modes) the command runs in a private mount namespace where
the store's folder is bind-mounted read-only; as any other user, the file and its folder lose their write bits.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, rows, write
from lifecycle_corpus import fingerprint_of

from kg.api import KGConfig, KGError, KnowledgeGraph
from store.db import SCHEMA_HEAD, Database, NotAStore
from store.fingerprint import differences

DOCS = {
    "curie.txt": "Marie Curie\n\nMarie Curie was born in Warsaw. She worked in Paris with Pierre Curie.\n",
    "bohr.txt": "Niels Bohr\n\nNiels Bohr was born in Copenhagen. He visited Ernest Rutherford in Manchester.\n",
    "fermi.txt": "Enrico Fermi\n\nEnrico Fermi was born in Rome. He later worked in Chicago with Leo Szilard.\n",
}


def kg_run(*args: str, cwd: Path | None = None, read_only: Path | None = None,
           timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``kg ARGS`` as its own process (the real entry point, exit codes included); with ``read_only``, that
    folder is read-only media for the process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KG_DB": ""}
    command = [sys.executable, "-m", "kg.cli", *args]
    if read_only is not None and os.geteuid() == 0:
        command = ["unshare", "-m", "--", "sh", "-c", 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && '
                   'shift && exec "$@"', "sh", str(read_only), *command]
    return subprocess.run(command, cwd=cwd or ROOT, capture_output=True, text=True, timeout=timeout, env=env)


def one_error_line(r: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and "sqlalchemy" not in r.stderr.lower(), r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:"), r.stderr
    for f in fragments:
        assert f in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("safety") / "docs"
    for name, text in DOCS.items():
        write(folder, name, text)
    return folder


@pytest.fixture(scope="module")
def built(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small indexed store, closed cleanly (no -wal or -shm left)."""
    path = tmp_path_factory.mktemp("built") / "kg.db"
    with KnowledgeGraph(path, KGConfig()) as g:
        g.ingest([corpus])
    assert not Path(f"{path}-wal").exists()
    return path


@pytest.fixture
def media(tmp_path: Path) -> Iterator[Path]:
    """A folder that ``kg_run(read_only=...)`` makes read-only media."""
    folder = tmp_path / "media"
    folder.mkdir()
    if os.geteuid() == 0:
        probe = subprocess.run(["unshare", "-m", "--", "sh", "-c", f'mount --bind "{folder}" "{folder}" && '
                                f'mount -o remount,bind,ro "{folder}"'], capture_output=True, text=True)
        if probe.returncode != 0:
            pytest.skip(f"running as root without a way to mount read-only media ({probe.stderr.strip()})")
    yield folder
    for p in [folder, *folder.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)


def _make_read_only(folder: Path) -> None:
    for p in folder.iterdir():
        p.chmod(0o444)
    folder.chmod(0o555)


# -- read-only media ---------------------------------------------------------------------------------------------
def test_a_store_on_read_only_media_can_be_queried_and_is_never_written(built: Path, media: Path,
                                                                        corpus: Path) -> None:
    store = media / "kg.db"
    shutil.copy(built, store)
    _make_read_only(media)
    before = store.read_bytes()
    r = kg_run("stats", "--db", str(store), "--json", read_only=media)
    assert r.returncode == 0, r.stderr
    assert '"documents": 3' in r.stdout
    r = kg_run("entity", "Niels Bohr", "--db", str(store), read_only=media)
    assert r.returncode == 0 and "Copenhagen" in r.stdout, r.stderr
    r = kg_run("search", "Where was Enrico Fermi born?", "-k", "2", "--db", str(store), read_only=media)
    assert r.returncode == 0 and "Enrico Fermi" in r.stdout, r.stderr
    assert sorted(p.name for p in media.iterdir()) == ["kg.db"]  # no -shm or -wal left behind
    assert store.read_bytes() == before
    for args in (["delete", "id:1", "--yes"], ["merge", "Niels Bohr", "Enrico Fermi"],
                 ["ingest", str(corpus), "--quiet"], ["kb", "import", str(ROOT / "kg" / "kb_sample.jsonl")]):
        one_error_line(kg_run(*args, "--db", str(store), read_only=media), "read-only")
    assert store.read_bytes() == before


def test_a_new_store_in_a_read_only_folder_says_so(media: Path, corpus: Path) -> None:
    media.chmod(0o555)
    r = kg_run("ingest", str(corpus), "--db", str(media / "kg.db"), "--quiet", read_only=media)
    one_error_line(r, "cannot create", "read-only")
    assert list(media.iterdir()) == []


def test_searching_never_encodes_it_says_what_is_missing(tmp_path: Path, corpus: Path) -> None:
    path = tmp_path / "kg.db"
    with KnowledgeGraph(path, KGConfig()) as g:
        g.ingest([corpus], index=False)
    with KnowledgeGraph(path, KGConfig()) as g:
        report = g.search_report("Where was Niels Bohr born?", k=3)
        assert report.unindexed == 3
        assert report.results and report.results[0].title == "Niels Bohr"  # the graph still finds it
    assert rows(path, "SELECT count(*) FROM chunk_vectors") == [(0,)]
    with KnowledgeGraph(path, KGConfig()) as g:
        assert g.index()["chunk_vectors"] == 3
        assert g.search_report("Where was Niels Bohr born?", k=3).unindexed == 0


# -- another program's file, older stores -------------------------------------------------------------------------
@pytest.fixture
def foreign(tmp_path: Path) -> Path:
    path = tmp_path / "notes.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    con.execute("INSERT INTO notes (body) VALUES ('Marie Curie was born in Warsaw.')")
    con.commit()
    con.close()
    return path


def test_commands_refuse_another_programs_sqlite_file_and_leave_it_unchanged(foreign: Path, corpus: Path) -> None:
    before = foreign.read_bytes()
    for args in (["stats"], ["docs"], ["entity", "Marie Curie"], ["search", "Warsaw"], ["delete", "1", "--yes"],
                 ["ingest", str(corpus), "--quiet"], ["merges"]):
        one_error_line(kg_run(*args, "--db", str(foreign)), "another program's SQLite database", "notes")
    assert foreign.read_bytes() == before
    assert sorted(p.name for p in foreign.parent.iterdir()) == ["notes.sqlite"]
    with pytest.raises(KGError, match="another program"):
        KnowledgeGraph(foreign)


def test_a_file_that_is_not_sqlite_is_refused_unchanged(tmp_path: Path) -> None:
    path = write(tmp_path, "kg.db", "just some text, not a database\n" * 10)
    before = path.read_bytes()
    one_error_line(kg_run("stats", "--db", str(path)), "not a kg store")
    assert path.read_bytes() == before
    with pytest.raises(NotAStore):
        Database(path, writable=True)
    assert path.read_bytes() == before


def test_only_a_write_or_db_upgrade_migrates_an_older_store(built: Path, tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    shutil.copy(built, old)
    con = sqlite3.connect(old)
    con.execute("UPDATE alembic_version SET version_num = '0002'")
    con.commit()
    con.close()
    before = old.read_bytes()
    one_error_line(kg_run("stats", "--db", str(old)), "kg db upgrade")
    assert old.read_bytes() == before
    r = kg_run("db", "current", "--db", str(old))
    assert r.returncode == 0 and "0002" in r.stdout and "needs kg db upgrade" in r.stdout, r.stderr
    assert KnowledgeGraph(old).schema_version() == "0002"


def test_schema_head_is_the_newest_migration() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(ROOT / "store" / "migrations"))
    assert ScriptDirectory.from_config(cfg).get_current_head() == SCHEMA_HEAD


def test_db_upgrade_creates_a_store_and_reports_it_current(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    r = kg_run("db", "upgrade", "--db", str(path))
    assert r.returncode == 0 and f"-> {SCHEMA_HEAD}" in r.stdout, r.stderr
    r = kg_run("db", "current", "--db", str(path))
    assert r.returncode == 0 and "up to date" in r.stdout


# -- damaged files ------------------------------------------------------------------------------------------------
def test_every_command_says_a_damaged_store_is_damaged(built: Path, tmp_path: Path) -> None:
    path = tmp_path / "kg.db"
    shutil.copy(built, path)
    page = 4096
    size = path.stat().st_size
    with path.open("r+b") as fh:  # overwrite every page but the first (the header and the schema's root)
        for offset in range(page, size, page):
            fh.seek(offset)
            fh.write(bytes((offset // page * 37 + i) % 251 for i in range(page)))
    for args in (["stats"], ["docs"], ["entities"], ["entity", "Marie Curie"], ["neighbors", "Marie Curie"],
                 ["search", "Warsaw"], ["merges"], ["delete", "id:1", "--yes"], ["export", "--out",
                 str(tmp_path / "g.graphml")]):
        one_error_line(kg_run(*args, "--db", str(path)), "is damaged", "PRAGMA integrity_check")


# -- concurrent writers -------------------------------------------------------------------------------------------
def _folders(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "a", tmp_path / "b"
    # Documents that each name what the other folder's documents introduce: the gazetteer of one writer must
    # see the other's names, or a mention and its relation go missing.
    write(a, "lab.txt", "Radium Lab\n\nThe Radium Lab in Paris was led by Marie Curie. Zorbex Institute "
                        "sent Kalman Veers to the Radium Lab.\n")
    write(a, "veers.txt", "Kalman Veers\n\nKalman Veers studied chemistry. Veers met Marie Curie at the Radium Lab.\n")
    write(b, "zorbex.txt", "Zorbex Institute\n\nThe Zorbex Institute was founded in Lyon. Kalman Veers joined the "
                           "Zorbex Institute in 1912 and worked with the Radium Lab.\n")
    write(b, "lyon.txt", "Lyon notes\n\nLyon hosts the Zorbex Institute. Marie Curie lectured in Lyon.\n")
    for i in range(6):
        write(b, f"extra{i}.txt", f"Note {i}\n\nKalman Veers wrote to the Zorbex Institute about Radium Lab work "
                                  f"number {i}.\n")
    return a, b


def test_concurrent_ingests_equal_a_serial_build(tmp_path: Path) -> None:
    a, b = _folders(tmp_path)
    serial = tmp_path / "serial.db"
    with KnowledgeGraph(serial, KGConfig()) as g:
        g.ingest([a], index=False)
        g.ingest([b], index=False)
    shared = tmp_path / "shared.db"
    procs = [subprocess.Popen([sys.executable, "-m", "kg.cli", "ingest", str(folder), "--db", str(shared)],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}) for folder in (a, b)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert any("waiting for another kg command" in err for _, err in outs), outs
    fa, fb = fingerprint_of(serial, vectors=False), fingerprint_of(shared, vectors=False)
    assert fa == fb, differences(fa, fb)
