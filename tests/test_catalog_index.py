"""retrieve.catalog_index: the persisted catalog, with an overlay of changed entities, answers exactly what an
EntityCatalog built from the whole store answers."""

from __future__ import annotations

import contextlib
import json
import random
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import KB_SAMPLE, SAMPLE, write

from extract.catalog import MAX_POSTING, Candidate, EntityCatalog
from extract.normalize import acronym, fold_accents, normalize
from kg.api import KGConfig, KnowledgeGraph
from retrieve.catalog_index import CatalogIndex, CatalogLookup, build_catalog, find_candidates, overlay_catalog
from store import read
from store.db import Database

WORDS = ["WRI", "W.R.I.", "PC", "P.C.",
         "Paris", "the", "Nobel Prize", "radium", "Institute", "Physics", "xyzzy", "Curie Curie", "of", "A",
         "U.S.", "UK", "Sorbonne University", "Quantum", "Warsw", "Manchestr", "Einstien", "Rutherfrod", "Becquerl"]


def connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)  # building must never write the store


def fresh_catalog(path: Path, max_posting: int = MAX_POSTING) -> EntityCatalog:
    db = Database(path, writable=False)
    try:
        with db.read() as s:
            catalog = EntityCatalog.from_rows(*read.catalog_rows(s))
    finally:
        db.close()
    catalog.max_posting = max_posting  # a small cap makes the sample's postings cross it
    return catalog


def read_rows(path: Path) -> tuple[list[tuple], list[tuple], list[tuple]]:
    db = Database(path, writable=False)
    try:
        with db.read() as s:
            return read.catalog_rows(s)  # type: ignore[no-any-return]
    finally:
        db.close()


def entity_state(path: Path) -> dict[int, tuple]:
    """What the catalog reads of each entity: liveness, name and alias rows (their ids order the spellings)."""
    con = connect(path)
    try:
        out = {i: (m is None, n) for i, n, m in con.execute("SELECT id, name, merged_into_id FROM entities")}
        aliases = sorted(con.execute("SELECT entity_id, id, alias, norm FROM aliases"))
        return {i: (*s, tuple(a[1:] for a in aliases if a[0] == i)) for i, s in out.items()}
    finally:
        con.close()


def surfaces(catalog: EntityCatalog, path: Path) -> list[str]:
    """Every name and alias, their misspellings, acronyms, accent-stripped and lowercase forms, and random words."""
    con = connect(path)
    names = {a for (a,) in con.execute("SELECT DISTINCT alias FROM aliases")}
    con.close()
    names |= {e.name for e in catalog.entities.values()}
    rng = random.Random(7)
    out = set(names) | set(WORDS)
    for name in sorted(names):
        i = len(name) // 2
        out |= {name[:i] + name[i + 1 :], name[:i] + name[i + 1 : i + 2] + name[i] + name[i + 2 :],
                name.lower(), fold_accents(name), name[:-1]}
        acr = acronym(name)
        if acr:
            out |= {acr.upper(), ".".join(acr.upper()) + "."}
    out |= {"".join(rng.choice("abcdefghijklmnopqrstuvwxyz ") for _ in range(rng.randint(3, 14))) for _ in range(200)}
    return sorted(out)


def assert_same(expected: list[Candidate], got: list[Candidate], limit: int) -> None:
    """EntityCatalog breaks ties by set order (random across processes for strings): where a tie meets a cut (the
    fuzzy matcher's ``limit`` or the result's ``2 * limit``), which of the tied made it is arbitrary, so compare
    only above the tied score."""
    expected = sorted(expected, key=lambda c: (-c.name_sim, c.ref))
    if got == expected:
        return
    low = min((c.name_sim for c in expected + got if c.kind == "fuzzy"), default=-1.0)
    if len(expected) == 2 * limit:
        low = max(low, expected[-1].name_sim)
    assert [c for c in got if c.name_sim > low] == [c for c in expected if c.name_sim > low]
    assert len(got) <= 2 * limit


def check(index: CatalogIndex, catalog: EntityCatalog, texts: list[str]) -> None:
    """Candidates equal the store catalog's for every text, exactly (order too) in ``find_candidates``' order."""
    reference, cap = CatalogLookup(catalog), catalog.max_posting
    assert index.max_posting == cap
    for text in texts:
        for cutoff, limit in ((88.0, 8), (88.0, 2), (None, 8), (80.0, 3)):
            got = index.candidates(text, cutoff, limit)
            assert got == find_candidates(reference, text, cutoff, limit, cap), (text, cutoff, limit)
            assert_same(catalog.candidates(text, cutoff, limit), got, limit)
        norm = normalize(text)
        assert index.refs_for_norm(norm) == sorted(catalog.refs_for_norm(norm)), text
    for ref, info in catalog.entities.items():
        assert index.entities[ref].name == info.name and ref in index.entities


def check_postings(index: CatalogIndex, catalog: EntityCatalog, *others: EntityCatalog) -> None:
    """Every block and acronym posting, and its size (returned at a cap of its size, empty one below), equals the
    store catalog's; keys only ``others`` (the catalog the file was built from) have are empty."""
    reference = CatalogLookup(catalog)
    for key in set(catalog._blocks).union(*(o._blocks for o in others)):
        want = catalog._blocks.get(key, set())
        for words in range(1, 9):
            got = index.block(key, len(want), words)
            assert got == reference.block(key, len(want), words) and index.block(key, len(want) - 1, words) == set()
    for acr in set(catalog._by_acronym).union(*(o._by_acronym for o in others)):
        want_refs = reference.acronym_refs(acr, 10**9)
        assert index.acronym_refs(acr, len(want_refs)) == want_refs, acr
        assert index.acronym_refs(acr, len(want_refs) - 1) == set(), acr


# Two spellings of one norm with different acronyms: the first (by row) gives the norm its acronym, so 'WRI'
# does not find the institute by its aliases. Plus a crowd of 'P.C.'s for the acronym posting cap.
KB_EXTRA = "\n".join(json.dumps(e) for e in [
    {"id": "X1", "name": "Radium Institute", "type": "ORG",
     "aliases": ["warsaw radium institute", "Warsaw Radium Institute"]},
    *({"id": f"P{i}", "name": f"Pierre Cl{'a' * i}ude", "type": "PERSON"} for i in range(1, 7)),
])


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("catalog")
    path = folder / "kg.db"
    with KnowledgeGraph(path, KGConfig()) as kg:
        kg.ingest([SAMPLE], index=False)
        kg.import_kb(KB_SAMPLE)
        kg.import_kb(write(folder, "extra.jsonl", KB_EXTRA))
    yield path


def test_built_file_answers_as_the_store_catalog(store: Path, tmp_path: Path) -> None:
    catalog, file = fresh_catalog(store), tmp_path / "catalog.sqlite"
    con = connect(store)
    build_catalog(con, file)
    old = CatalogIndex(file)
    build_catalog(con, file)  # over a file in use: the open one reads on from the file it opened
    con.close()
    assert old.candidates("Marie Curie") == CatalogIndex(file).candidates("Marie Curie") != []
    texts = surfaces(catalog, store)
    assert len(texts) > 1000
    check(CatalogIndex(file), catalog, texts)
    check_postings(CatalogIndex(file), catalog)
    check(CatalogIndex(file, max_posting=4), fresh_catalog(store, 4), texts)
    check(CatalogIndex(None, overlay=catalog), catalog, texts)  # an overlay alone is the whole catalog
    assert sorted(p.name for p in tmp_path.iterdir()) == ["catalog.sqlite"]  # no temporary file left


def test_old_file_with_overlay_answers_as_the_changed_store(store: Path, tmp_path: Path) -> None:
    path = tmp_path / "kg.db"
    with contextlib.closing(sqlite3.connect(store)) as src, contextlib.closing(sqlite3.connect(path)) as dst:
        src.backup(dst)
    file = tmp_path / "catalog.sqlite"
    con = connect(path)
    build_catalog(con, file)
    con.close()
    before = entity_state(path)
    with contextlib.closing(sqlite3.connect(path)) as con, con:
        con.execute("DELETE FROM index_changes")
        doc = con.execute("SELECT id FROM documents WHERE source LIKE '%paul_langevin%'").fetchone()[0]
    docs = tmp_path / "more"
    write(docs, "curie_lab.md", "# Curie Laboratory\n\nThe Curie Laboratory (CL) in Paris was run by Marie Curie and "
          "Maria Sklodowska-Curie's students. The Centre National de la Recherche Scientifique (CNRS) funded it, "
          "as did the Rockefeller Foundation. Albert Einstien visited from Zürich in 1913.\n")
    write(docs, "warsaw_radium.txt", "The Radium Institute in Warsaw opened in 1932. Marie Curie and her sister "
          "Bronisława Dłuska founded it; Niels Bohr and Ernest Rutherford sent congratulations.\n")
    with KnowledgeGraph(path, KGConfig()) as kg:
        kg.ingest([docs], index=False)
        kg.delete([f"id:{doc}"])
        live = [i for i, (alive, _, aliases) in sorted(entity_state(path).items()) if alive and aliases]
        kg.merge(f"id:{live[0]}", f"id:{live[5]}")
    after = entity_state(path)
    changed = frozenset(i for i in before.keys() | after.keys() if before.get(i) != after.get(i))
    assert len(changed) > 10
    con = connect(path)
    logged = {r for (r,) in con.execute("SELECT ref FROM index_changes WHERE kind = 2")}
    assert changed <= logged  # the store's change log names every entity whose catalog rows changed

    catalog = fresh_catalog(path)
    texts = surfaces(catalog, path) + surfaces(fresh_catalog(store), store)
    ents, aliases, _ = read_rows(path)
    rows = EntityCatalog.from_rows([e for e in ents if e[0] in changed], [a for a in aliases if a[0] in changed], [])
    check(CatalogIndex(file, overlay=rows, hidden=changed), catalog, texts)
    check_postings(CatalogIndex(file, overlay=rows, hidden=changed), catalog, fresh_catalog(store))
    check(CatalogIndex(file, overlay=rows, hidden=changed, max_posting=4), fresh_catalog(path, 4), texts)
    index = CatalogIndex(file, overlay=overlay_catalog(con, logged), hidden=frozenset(logged))
    check(index, catalog, texts)
    con.close()
    gone = before.keys() - {i for i, (alive, *_) in after.items() if alive}
    assert gone and not any(i in index.entities for i in gone)
    with pytest.raises(KeyError):
        index.name(min(gone))


def test_lookups_from_threads_agree(store: Path, tmp_path: Path) -> None:
    catalog, file = fresh_catalog(store), tmp_path / "catalog.sqlite"
    con = connect(store)
    build_catalog(con, file)
    con.close()
    index = CatalogIndex(file)
    texts = surfaces(catalog, store)[:400]
    want = [index.candidates(t) for t in texts]
    got: dict[int, list[list[Candidate]]] = {}

    def run(k: int) -> None:
        got[k] = [index.candidates(t) for t in texts]

    threads = [threading.Thread(target=run, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(got[k] == want for k in range(4))


def test_a_file_of_another_format_is_refused(tmp_path: Path) -> None:
    sqlite3.connect(tmp_path / "other.sqlite").close()
    with pytest.raises(ValueError, match="rebuild it"):
        CatalogIndex(tmp_path / "other.sqlite")
