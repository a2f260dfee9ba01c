"""The persisted search index: written by writers, memory-mapped by readers, brought up to date from the store's
change log exactly as a from-scratch build would be, and never used when it belongs to another state of the
store."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import KB_SAMPLE, rows, write
from index_checks import assert_parts_equal, parts_now

from kg.api import KGConfig, KnowledgeGraph
from retrieve import persist

DOCS = {
    "curie.txt": "Marie Curie\n\nMarie Curie was born in Warsaw. She worked in Paris with Pierre Curie.\n",
    "bohr.txt": "Niels Bohr\n\nNiels Bohr was born in Copenhagen. He visited Ernest Rutherford in Manchester.\n",
    "fermi.txt": "Enrico Fermi\n\nEnrico Fermi was born in Rome. He worked in Chicago with Leo Szilard.\n",
    "meitner.txt": "Lise Meitner\n\nLise Meitner was born in Vienna and worked in Berlin with Otto Hahn.\n",
}
QUERIES = ["Where was Niels Bohr born?", "Who worked with Pierre Curie in Paris?", "Otto Hahn Berlin"]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for name, text in DOCS.items():
        write(tmp_path / "docs", name, text)
    return tmp_path / "docs"


def test_incremental_parts_equal_a_build_after_every_kind_of_change(folder: Path, tmp_path: Path) -> None:
    db = tmp_path / "kg.db"
    with KnowledgeGraph(db, KGConfig()) as g:
        g.ingest([folder / "curie.txt", folder / "bohr.txt"])
        assert persist.index_dir(db).is_dir()  # the first indexed ingest writes the files
        steps = [
            lambda: g.ingest([folder / "fermi.txt"], index=True),
            lambda: g.delete([str(folder / "bohr.txt")]),
            lambda: (write(folder, "curie.txt", DOCS["curie.txt"] + "Marie Curie later lived in Berlin.\n"),
                     g.ingest([folder / "curie.txt"])),
            lambda: g.merge("Pierre Curie", "Marie Curie"),
            lambda: g.unmerge("Marie Curie"),
            lambda: g.import_kb(KB_SAMPLE),
            lambda: g.ingest([folder / "meitner.txt"], index=False),  # chunks without vectors yet
            lambda: g.index(),
        ]
        for step in steps:
            step()
            incremental, built, source = parts_now(g)
            assert source == "files"
            assert_parts_equal(incremental, built)


def test_entities_made_and_gone_since_the_files_were_written_are_skipped(folder: Path, tmp_path: Path) -> None:
    """The change log can name entities newer than every entity left (the newest document's, then deleted):
    they were never in the files and are not in the store, so there is nothing to update for them."""
    db = tmp_path / "kg.db"
    with KnowledgeGraph(db, KGConfig()) as g:
        g.ingest([folder / "curie.txt", folder / "bohr.txt"])
        g.ingest([folder / "fermi.txt"], index=False)  # its entities are newer than the files
        g.delete([str(folder / "fermi.txt")])
        incremental, built, source = parts_now(g)
        assert source == "files"
        assert_parts_equal(incremental, built)
        assert g.search("Where was Niels Bohr born?", k=3)


def test_synonyms_follow_a_name_token_that_turns_common_and_rare_again(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # a token held by more than SYNONYM_POSTING live entities suggests no synonyms; an update re-reads the
    # holders of a token only while it is rare before or after the change, so crossing the bound both ways counts
    monkeypatch.setattr(persist, "SYNONYM_POSTING", 2)
    docs = tmp_path / "docs"
    write(docs, "a.txt", "Marie Curie\n\nMarie Curie met Pierre Curie in Paris.\n")
    write(docs, "b.txt", "Eve Curie\n\nEve Curie wrote a life of her mother in New York.\n")
    config = KGConfig()
    config.retrieve.graph.synonym_similarity = 0.3  # names alike enough to give edges in a small store
    with KnowledgeGraph(tmp_path / "kg.db", config) as g:
        g.ingest([docs / "a.txt"])
        seen = []
        for step in (lambda: g.ingest([docs / "b.txt"]), lambda: g.delete([str(docs / "b.txt")]),
                     lambda: g.ingest([docs / "b.txt"])):
            step()
            incremental, built, source = parts_now(g)
            assert source == "files"
            assert_parts_equal(incremental, built)
            seen.append(built.synonyms.nnz)
        assert seen[1] > 0 and seen[0] != seen[1]  # the edges through "Curie" come and go


def test_searches_equal_before_and_after_compaction_and_readers_write_nothing(folder: Path, tmp_path: Path) -> None:
    db = tmp_path / "kg.db"
    with KnowledgeGraph(db, KGConfig()) as g:
        g.ingest([folder / "curie.txt", folder / "bohr.txt", folder / "fermi.txt"])
        g.delete([str(folder / "fermi.txt")])  # a small change: pending, not compacted
    assert rows(db, "SELECT count(*) FROM index_changes")[0][0] > 0
    files_before = sorted(p.name for p in persist.index_dir(db).iterdir())
    with KnowledgeGraph(db, KGConfig()) as reader:
        before = {q: [(r.chunk_id, round(r.score, 5)) for r in reader.search(q, k=4)] for q in QUERIES}
        assert reader.retriever._index.extras["source"] == "files"  # type: ignore[union-attr]
    assert sorted(p.name for p in persist.index_dir(db).iterdir()) == files_before
    assert rows(db, "SELECT count(*) FROM index_changes")[0][0] > 0
    with KnowledgeGraph(db, KGConfig()) as g:
        assert g.index(compact=True)["compacted"] == 1
    assert rows(db, "SELECT count(*) FROM index_changes") == [(0,)]
    with KnowledgeGraph(db, KGConfig()) as reader:
        after = {q: [(r.chunk_id, round(r.score, 5)) for r in reader.search(q, k=4)] for q in QUERIES}
    assert after == before


def test_files_of_another_generation_are_never_used_and_a_writer_repairs_them(folder: Path, tmp_path: Path) -> None:
    db = tmp_path / "kg.db"
    with KnowledgeGraph(db, KGConfig()) as g:
        g.ingest([folder / "curie.txt", folder / "bohr.txt"])
    saved = tmp_path / "old.index"
    shutil.copytree(persist.index_dir(db), saved)
    with KnowledgeGraph(db, KGConfig()) as g:
        g.ingest([folder / "fermi.txt", folder / "meitner.txt"])  # compacts: new files, new generation
    shutil.rmtree(persist.index_dir(db))
    shutil.copytree(saved, persist.index_dir(db))  # stale files put back, as a restore or a crash might leave
    with KnowledgeGraph(db, KGConfig()) as reader:
        top = reader.search("Where was Lise Meitner born?", k=1)[0]
        assert top.title == "Lise Meitner"  # from a build in memory, not from the stale files
        assert reader.retriever._index.extras["source"] == "built"  # type: ignore[union-attr]
    with KnowledgeGraph(db, KGConfig()) as g:
        assert g.index()["compacted"] == 1  # stale files are rewritten even with nothing pending
        incremental, built, source = parts_now(g)
    assert source == "files"
    assert_parts_equal(incremental, built)


def test_a_crash_between_writing_the_files_and_recording_them_is_detected(folder: Path, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "kg.db"
    with KnowledgeGraph(db, KGConfig()) as g:
        g.ingest([folder / "curie.txt"])
        g.ingest([folder / "bohr.txt"])
        g.delete([str(folder / "curie.txt")])  # pending

        def crash(*args: object, **kwargs: object) -> None:
            raise KeyboardInterrupt

        real = g.db.write
        monkeypatch.setattr(g.db, "write", crash)
        with pytest.raises(KeyboardInterrupt):
            g.retriever.compact(force=True)  # new files are in place; the store still names the old ones
        monkeypatch.setattr(g.db, "write", real)
    with KnowledgeGraph(db, KGConfig()) as reader:
        assert reader.search("Where was Niels Bohr born?", k=1)[0].title == "Niels Bohr"
        assert reader.retriever._index.extras["source"] == "built"  # type: ignore[union-attr]
