"""``kg bench scale``: ingest, search, delete and disk figures at growing corpus sizes, and how fast each grows.

Each size's corpus is built from a real one (MuSiQue's ``corpus.jsonl``) by copying it: copy 0 is the original,
and copy k renames its names consistently to fresh ones, so that the entity count grows as in a real corpus
instead of repeating the same names. The renamed unit is the word: every capitalised word of an entity name
(spaCy NER over the base passages) or of a title becomes, in copy k, a pronounceable fresh word made from
syllables seeded by (word, k), wherever it occurs capitalised in that copy. "Marie Curie" and a later "Curie"
stay one person, "University of Copenhagen" keeps its head, and names never cross copies. Words that are
generic heads (``KEEP``), stop words, or more often lowercase than capitalised in the base ("river",
"history") are kept. Passage ids are ``"{copy}:{id}"``.

Each size is measured in a process of its own (peak memory starts clean), on a fresh store:

- ingest + index in ten equal batches (one ``KnowledgeGraph.ingest(paths, index=True)`` call each), passages/s
  per tenth; models are loaded before the clock starts, and the peer is a bare spaCy NER pass over the same
  texts with the same processes and batch size, its model loaded before its clock starts too;
- a few one-passage documents (their own one-record files, part of the corpus) replaced (text edited, file
  re-ingested) and deleted one at a time on the full store, then restored;
- the store's size on disk: the database with its WAL, and any other file or folder beside it whose name
  starts with the database's (a persisted index);
- a new process that loads the retrieval models (timed on their own), then answers one query: the cold open
  is its time from start to first result less the model loading; it then times the queries warm, per mode.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from kg.api import KGConfig, KGError
from kg.bench.common import PeakRSS, bare_ner, percentile_ms

ROOT = Path(__file__).resolve().parents[2]
NAME_LABELS = frozenset({"PERSON", "ORG", "GPE", "LOC", "FAC", "NORP", "EVENT", "WORK_OF_ART", "PRODUCT"})
WORD = re.compile(r"[^\W\d_]+")  # letters only: "Curie's" is "Curie" + "s", "Jean-Paul" two words
ROMAN = re.compile(r"[IVXLCDM]+")
# Generic heads and parts of names that a real corpus repeats: "X University", "Y River", "North Z".
KEEP = frozenset((
    "University", "Institute", "College", "School", "Academy", "Society", "Association", "Company",
    "Corporation", "Inc", "Ltd", "Corp", "Group", "Party", "Church", "Cathedral", "Museum", "Library",
    "Council", "Committee", "Commission", "Department", "Ministry", "Court", "Army", "Navy", "League", "Club",
    "Records", "River", "Lake", "Sea", "Ocean", "Bay", "Island", "Islands", "Mountain", "Mountains", "Mount",
    "Valley", "Creek", "Falls", "Park", "Street", "Road", "Route", "Highway", "Bridge", "Station", "Airport",
    "Railway", "Hotel", "Hall", "Tower", "House", "Castle", "Palace", "County", "District", "Province", "State",
    "States", "City", "Township", "Territory", "Republic", "Kingdom", "Empire", "Region", "Coast", "North",
    "South", "East", "West", "Northern", "Southern", "Eastern", "Western", "Central", "New", "Old", "Saint",
    "St", "Fort", "Cape", "Journal", "War", "Battle", "Cup", "Championship", "Award", "Awards", "Prize",
    "Festival", "Games", "Olympics", "National", "International", "Royal", "Federal", "General", "January",
    "February", "March", "April", "May", "June", "July", "August", "September", "October", "November",
    "December", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"
))
ONSETS = ("b", "br", "c", "d", "dr", "f", "g", "gr", "h", "j", "k", "l", "m", "n", "p", "pr", "r", "s", "st", "t",
          "tr", "v", "z", "sh", "th", "ch", "kl", "pl")
VOWELS = ("a", "e", "i", "o", "u", "ai", "ei", "ou", "ia")
CODAS = ("", "", "", "n", "r", "l", "s", "m", "nd")
DELETES = 5  # single documents replaced and deleted at each size
EDIT = " A later revision of this passage adds one more sentence."
MODES = ("sparse", "graph", "hybrid")
WARM_UP_QUERY = "Who founded the company that built the first bridge in the capital?"
GROW = 4  # failed salts before a fresh word grows a letter
VERSION = 2  # of the corpus layout: a kept corpus of another version is rebuilt

# The figures of one size, in table order: JSON key, label, format.
FIGURES: tuple[tuple[str, str, str], ...] = (
    ("passages", "passages", ",.0f"),
    ("entities", "entities in the store", ",.0f"),
    ("relations", "relations", ",.0f"),
    ("ingest_seconds", "ingest + index s", ",.1f"),
    ("bare_ner_seconds", "bare spaCy NER s (peer)", ",.1f"),
    ("ratio_to_bare_ner", "ratio to bare NER", ".2f"),
    ("first_tenth_pps", "first tenth passages/s", ".1f"),
    ("last_tenth_pps", "last tenth passages/s", ".1f"),
    ("tenth_ratio", "last / first tenth", ".2f"),
    ("db_mib", "database MiB (with WAL)", ",.1f"),
    ("index_mib", "index beside it MiB", ",.1f"),
    ("peak_rss_mib", "peak RSS ingest MiB", ",.0f"),
    ("search_peak_rss_mib", "peak RSS search MiB", ",.0f"),
    ("model_load_seconds", "model loading s", ".2f"),
    ("cold_open_seconds", "cold open to first result s", ".2f"),
    ("sparse_p50_ms", "sparse p50 ms", ".1f"),
    ("sparse_p95_ms", "sparse p95 ms", ".1f"),
    ("graph_p50_ms", "graph p50 ms", ".1f"),
    ("graph_p95_ms", "graph p95 ms", ".1f"),
    ("p50_ms", "hybrid p50 ms", ".1f"),
    ("p95_ms", "hybrid p95 ms", ".1f"),
    ("delete_ms", "delete one document ms", ".1f"),
    ("replace_ms", "replace one document ms", ".1f"),
)
# The floors: (figure, rule, bound). "every": at every size; "largest_max"/"largest_min": at the
# largest size measured (the issue sets them at 100,000 passages); "slope_max": growth exponent, first to last.
TARGETS: tuple[tuple[str, str, float], ...] = (
    ("ratio_to_bare_ner", "every", 2.5),
    ("tenth_ratio", "largest_min", 0.8),
    ("cold_open_seconds", "largest_max", 2.0),
    ("p50_ms", "largest_max", 100.0),
    ("p50_ms", "slope_max", 0.5),
    ("delete_ms", "slope_max", 0.2),
)


# -- corpus expansion -----------------------------------------------------------------------------------------
def entity_names(texts: list[str], model: str, processes: int, batch_size: int) -> Counter[str]:
    """The names a bare spaCy NER pass finds in ``texts`` (labels of ``NAME_LABELS``), with their counts."""
    nlp = bare_ner(model)
    return Counter(e.text for doc in nlp.pipe(texts, batch_size=batch_size, n_process=processes)
                   for e in doc.ents if e.label_ in NAME_LABELS)


def renameable_words(rows: list[dict[str, Any]], names: Iterable[str]) -> list[str]:
    """Capitalised words of the names and titles that each copy renames: not a generic head, a stop word, a
    roman numeral or a two-letter acronym, and more often capitalised than lowercase in the base passages."""
    from spacy.lang.en.stop_words import STOP_WORDS

    counts = Counter(w for r in rows for w in WORD.findall(f"{r.get('title') or ''}\n{r['text']}"))
    words = {w for n in [*names, *(r.get("title") or "" for r in rows)] for w in WORD.findall(n)}
    return sorted(w for w in words if w[0].isupper() and len(w) > 1 and w not in KEEP
                  and w.lower() not in STOP_WORDS and not ROMAN.fullmatch(w) and not (w.isupper() and len(w) < 3)
                  and counts[w.lower()] < counts[w])


def fresh_word(word: str, copy: int, salt: int = 0) -> str:
    """A pronounceable word for ``word`` in ``copy``, as many syllables as its length suggests; an acronym
    gets an acronym of the same length, one letter longer for every ``GROW`` salts: there are few fresh
    acronyms of three letters, and the copies of 100,000 passages use them all up."""
    h = hashlib.blake2b(f"{copy}\x00{word}\x00{salt}".encode(), digest_size=48).digest()
    length = len(word) + salt // GROW
    syllables = min(16, max(2, -(-length // 2))) if word.isupper() else min(4, max(2, len(word) // 3))
    made = "".join(ONSETS[h[3 * i] % len(ONSETS)] + VOWELS[h[3 * i + 1] % len(VOWELS)] +
                   CODAS[h[3 * i + 2] % len(CODAS)] for i in range(syllables))
    return made[:length].upper() if word.isupper() else made.capitalize()


def word_maps(words: list[str], copies: int, taken: Iterable[str]) -> list[dict[str, str]]:
    """One renaming per copy (copy 0 the identity): every fresh word is new to the base passages and to every
    earlier copy, so copies share no names; copy k's map depends only on copies before it."""
    used = {w.lower() for w in taken}
    maps: list[dict[str, str]] = [{}]
    for k in range(1, copies):
        mapping = {}
        for w in words:
            salt = 0
            while (f := fresh_word(w, k, salt)).lower() in used:
                salt += 1
            used.add(f.lower())
            mapping[w] = f
        maps.append(mapping)
    return maps


def rename(text: str, mapping: dict[str, str]) -> str:
    """``text`` with each whole word of ``mapping`` replaced (case-sensitive, so only capitalised uses)."""
    return WORD.sub(lambda m: mapping.get(m.group(), m.group()), text) if mapping else text


def expand(rows: list[dict[str, Any]], maps: list[dict[str, str]], n: int) -> Iterator[dict[str, Any]]:
    """The first ``n`` passages of copy 0, 1, 2... of ``rows``: ids ``"{copy}:{id}"``, names renamed."""
    for i in range(n):
        k, j = divmod(i, len(rows))
        row = rows[j]
        yield {"id": f"{k}:{row['id']}", "title": rename(row.get("title") or "", maps[k]),
               "text": rename(row["text"], maps[k])}


def doc_positions(n: int, deletes: int) -> list[int]:
    """Where in the corpus the single-document files sit: spread evenly."""
    return [(2 * r + 1) * n // (2 * deletes) for r in range(deletes)]


def tenths(folder: Path, n: int, deletes: int) -> list[list[Path]]:
    """The files of each tenth: the tenth's jsonl, then the single-document files that fall in it."""
    docs = doc_positions(n, deletes)
    return [[folder / f"tenth-{t}.jsonl", *(folder / "docs" / f"{i:07d}.jsonl" for i in docs
                                            if t * n // 10 <= i < (t + 1) * n // 10)] for t in range(10)]


def write_corpus(folder: Path, rows: list[dict[str, Any]], maps: list[dict[str, str]], n: int,
                 deletes: int, key: dict[str, Any]) -> bool:
    """The corpus of ``n`` passages in ``folder`` (ten jsonl files and one file per single document), unless
    one with the same ``key`` is there already; returns whether it was reused."""
    manifest = folder / "manifest.json"
    if manifest.is_file() and json.loads(manifest.read_text(encoding="utf-8")) == key:
        return True
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "docs").mkdir(parents=True)
    docs = set(doc_positions(n, deletes))
    handles = [(folder / f"tenth-{t}.jsonl").open("w", encoding="utf-8") for t in range(10)]
    try:
        for i, row in enumerate(expand(rows, maps, n)):
            line = json.dumps(row, ensure_ascii=False) + "\n"
            if i in docs:
                (folder / "docs" / f"{i:07d}.jsonl").write_text(line, encoding="utf-8")
            else:
                handles[i * 10 // n].write(line)
    finally:
        for h in handles:
            h.close()
    manifest.write_text(json.dumps(key) + "\n", encoding="utf-8")  # last: a corpus cut short is rebuilt
    return False


def base_names(work: Path, corpus: Path, rows: list[dict[str, Any]], model: str, processes: int,
               batch_size: int, say: Callable[[str], None]) -> list[str]:
    """The base passages' entity names, found once and kept in ``work`` for later runs."""
    cache = work / "names.json"
    key = {"corpus": str(corpus), "bytes": corpus.stat().st_size, "passages": len(rows), "model": model}
    if cache.is_file():
        kept = json.loads(cache.read_text(encoding="utf-8"))
        if kept.get("key") == key:
            return list(kept["names"])
    say(f"finding the entity names of {len(rows):,} base passages (bare spaCy NER)…")
    names = sorted(entity_names([r["text"] for r in rows], model, processes, batch_size))
    cache.write_text(json.dumps({"key": key, "names": names}, ensure_ascii=False) + "\n", encoding="utf-8")
    return names


# -- one size, in its own process -----------------------------------------------------------------------------
def _child(task: str, args: dict[str, Any], quiet_stderr: bool = False) -> tuple[dict[str, Any], float]:
    """Run ``task`` of this module in a new Python process; what it wrote, and when (``time.time``) it began."""
    with tempfile.TemporaryDirectory(prefix="kg-bench-scale-") as tmp:
        out = Path(tmp) / "result.json"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        started = time.time()
        r = subprocess.run([sys.executable, "-m", "kg.bench.scale", task, json.dumps({**args, "out": str(out)})],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE if quiet_stderr else None,
                           text=True)
        if r.returncode != 0 or not out.is_file():
            why = (r.stderr or "").strip()[-800:] if quiet_stderr else "see the messages above"
            raise KGError(f"the {task} process failed (exit {r.returncode}): {why}")
        return json.loads(out.read_text(encoding="utf-8")), started


def _disk_mib(db: Path) -> tuple[float, float]:
    """MiB of the database with its WAL, and of anything else beside it named after it (an index)."""
    def size(p: Path) -> int:
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) if p.is_dir() else p.stat().st_size

    main = other = 0
    for p in db.parent.iterdir():
        if p == db or p.name == db.name + "-wal":
            main += size(p)
        elif p.name.startswith(db.name) and p.name != db.name + "-shm":
            other += size(p)
    return round(main / 2**20, 2), round(other / 2**20, 2)


def measure_size(corpus: str, store: str, questions: list[str], processes: int, deletes: int,
                 quiet: bool = False) -> dict[str, Any]:
    """Build a store from the corpus folder in ten timed batches, replace and delete single documents, size it
    on disk, time a bare NER pass over the same texts, then open it cold in a new process and query it."""
    from kg.api import KnowledgeGraph

    folder, db = Path(corpus), Path(store)
    n = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["size"]

    def say(msg: str) -> None:
        if not quiet:
            print(f"[{n:,}] {msg}", file=sys.stderr, flush=True)

    config = KGConfig.from_env()
    config.extract.n_process = processes
    load_start = round(os.getloadavg()[0], 2)
    if db.parent.exists():
        shutil.rmtree(db.parent)
    db.parent.mkdir(parents=True)
    parts = tenths(folder, n, deletes)
    g = KnowledgeGraph(db, config)
    try:
        say("loading the models…")
        g.extractor  # noqa: B018
        g.retriever.splade, g.retriever.dense  # noqa: B018
        per_tenth: list[dict[str, Any]] = []
        with PeakRSS() as rss:
            for t, paths in enumerate(parts):
                t0 = time.perf_counter()
                report = g.ingest(paths, index=True)
                took = time.perf_counter() - t0
                if report.errors:
                    raise KGError(f"tenth {t + 1}: {len(report.errors)} passage(s) failed; the first: "
                                  f"{report.errors[0]}")
                count = (t + 1) * n // 10 - t * n // 10
                per_tenth.append({"passages": count, "seconds": round(took, 2), "pps": round(count / took, 1),
                                  "relinked": report.relinked})
                say(f"tenth {t + 1}/10: {count:,} passages in {took:.1f} s ({count / took:.1f}/s)")
        stats = g.stats()
        say(f"replacing and deleting {deletes} single documents…")
        delete_ms, replace_ms = [], []
        for path in [p for ps in parts for p in ps[1:]]:
            original = path.read_text(encoding="utf-8")
            row = json.loads(original)
            try:
                path.write_text(json.dumps({**row, "text": row["text"] + EDIT}, ensure_ascii=False) + "\n",
                                encoding="utf-8")
                t0 = time.perf_counter()
                g.ingest([path], index=True)
                replace_ms.append(1000 * (time.perf_counter() - t0))
                t0 = time.perf_counter()
                g.delete(str(path.resolve()))
                delete_ms.append(1000 * (time.perf_counter() - t0))
            finally:
                path.write_text(original, encoding="utf-8")
            g.ingest([path], index=True)  # back as built, so the store searched below is the corpus
    finally:
        g.close()
    db_mib, index_mib = _disk_mib(db)

    say(f"bare spaCy NER pass over the same {n:,} texts (peer)…")
    texts = [json.loads(line)["text"] for ps in parts for p in ps for line in p.open(encoding="utf-8")]
    nlp = bare_ner(config.extract.model)
    t0 = time.perf_counter()
    for _ in nlp.pipe(texts, batch_size=config.extract.batch_size, n_process=processes):
        pass
    bare_s = time.perf_counter() - t0
    del nlp, texts

    say("cold open in a new process, then warm queries…")
    s, started = _child("search", {"db": str(db), "questions": questions}, quiet_stderr=True)
    ingest_s = sum(t["seconds"] for t in per_tenth)
    first, last = per_tenth[0]["pps"], per_tenth[-1]["pps"]
    total = s["first_result_at"] - started
    return {
        "passages": stats.documents, "chunks": stats.chunks, "mentions": stats.mentions,
        "entities": stats.entities, "relations": stats.relations,
        "ingest_seconds": round(ingest_s, 2), "bare_ner_seconds": round(bare_s, 2),
        "ratio_to_bare_ner": round(ingest_s / bare_s, 2), "tenths": per_tenth,
        "first_tenth_pps": first, "last_tenth_pps": last, "tenth_ratio": round(last / first, 2),
        "peak_rss_mib": round(rss.mib, 1), "db_mib": db_mib, "index_mib": index_mib,
        "model_load_seconds": s["model_load_seconds"],
        "cold_open_seconds": round(total - s["model_load_seconds"], 2), "cold_total_seconds": round(total, 2),
        "first_query_seconds": s["first_query_seconds"], "search_peak_rss_mib": s["peak_rss_mib"],
        **{k: v for k, v in s.items() if k.endswith("_ms")},
        "p50_ms": s["hybrid_p50_ms"], "p95_ms": s["hybrid_p95_ms"], "queries": len(questions),
        "delete_ms": round(statistics.median(delete_ms), 1), "replace_ms": round(statistics.median(replace_ms), 1),
        "delete_ms_each": [round(x, 1) for x in delete_ms], "replace_ms_each": [round(x, 1) for x in replace_ms],
        "load_average": [load_start, round(os.getloadavg()[0], 2)],
    }


def search_process(db: str, questions: list[str]) -> dict[str, Any]:
    """In a fresh process: load the retrieval models (timed apart), answer the first question, then time every
    question warm in each mode."""
    from kg.api import KnowledgeGraph

    g = KnowledgeGraph(db, read_only=True)
    t0 = time.perf_counter()
    g.retriever.splade, g.retriever.dense, g.retriever.nlp  # noqa: B018
    models = time.perf_counter() - t0
    t0 = time.perf_counter()
    g.search(questions[0])
    first_at, first = time.time(), time.perf_counter() - t0
    out: dict[str, Any] = {"model_load_seconds": round(models, 2), "first_result_at": first_at,
                           "first_query_seconds": round(first, 3)}
    for mode in MODES:
        g.search(WARM_UP_QUERY, mode=mode)
        took = []
        for q in questions:
            t0 = time.perf_counter()
            g.search(q, mode=mode)
            took.append(time.perf_counter() - t0)
        out |= {f"{mode}_p50_ms": percentile_ms(took, 50), f"{mode}_p95_ms": percentile_ms(took, 95)}
    g.close()
    out["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


# -- all sizes ------------------------------------------------------------------------------------------------
def slope(sizes: list[dict[str, Any]], key: str, a: int = 0, b: int = -1) -> float | None:
    """The growth exponent of ``key`` between two sizes: the slope of log(value) against log(passages)."""
    x, y = sizes[a], sizes[b]
    if not (isinstance(x.get(key), (int, float)) and isinstance(y.get(key), (int, float))
            and x[key] > 0 and y[key] > 0 and y["passages"] != x["passages"]):
        return None
    return round(math.log(y[key] / x[key]) / math.log(y["passages"] / x["passages"]), 3)


def check_targets(sizes: list[dict[str, Any]], slopes: dict[str, float | None]) -> list[dict[str, Any]]:
    """Each of ``TARGETS`` with the value it was checked on and whether it is met."""
    out = []
    for key, rule, bound in TARGETS:
        value: float | None
        if rule == "every":
            value = max(s[key] for s in sizes)
        elif rule == "slope_max":
            value = slopes.get(key) if len(sizes) > 1 else None
        else:
            value = sizes[-1][key]
        met = None if value is None else (value >= bound if rule == "largest_min" else value <= bound)
        out.append({"figure": key, "rule": rule, "bound": bound, "value": value, "met": met})
    return out


def run_scale_bench(dataset: str | Path, sizes: list[int], base_limit: int | None = None, processes: int = 2,
                    keep: str | Path | None = None, queries: int | None = None, deletes: int = DELETES,
                    progress: Console | None = None,
                    on_size: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Expand the dataset's corpus to each size, measure each size in a process of its own, and compute the
    growth exponent of every figure between the first and the last size. ``on_size`` gets the result so far
    after each size."""
    from kg.bench.retrieval import dataset_files, read_corpus  # spaCy: kept out of the search process

    corpus_path, queries_path = dataset_files(dataset)
    rows = read_corpus(corpus_path)[:base_limit] if base_limit else read_corpus(corpus_path)
    questions = [json.loads(line)["question"] for line in queries_path.open(encoding="utf-8") if line.strip()]
    questions = questions[:queries] if queries else questions
    sizes = sorted(set(sizes))
    if not sizes or sizes[0] < 10 * max(1, deletes):
        raise KGError(f"each size needs at least {10 * max(1, deletes)} passages (ten tenths and --deletes "
                      f"{deletes} documents)")
    if not questions:
        raise KGError(f"{queries_path}: no questions")
    config = KGConfig.from_env()

    def say(msg: str) -> None:
        if progress is not None:
            progress.print(f"[dim]{msg}[/dim]")

    with tempfile.TemporaryDirectory(prefix="kg-bench-scale-") as tmp:
        work = Path(keep).resolve() if keep else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        names = base_names(work, corpus_path, rows, config.extract.model, processes, config.extract.batch_size,
                           say)
        words = renameable_words(rows, names)
        copies = math.ceil(sizes[-1] / len(rows))
        taken = {w for r in rows for w in WORD.findall(f"{r.get('title') or ''}\n{r['text']}")}
        maps = word_maps(words, copies, taken)
        result: dict[str, Any] = {
            "dataset": str(corpus_path), "base_passages": len(rows), "base_names": len(names),
            "renamed_words": len(words), "processes": processes, "deletes": deletes, "queries": len(questions),
            "cpu_cores": os.cpu_count(), "kept": str(work) if keep else None, "sizes": [],
        }
        for n in sizes:
            folder = work / f"corpus-{n}"
            key = {"version": VERSION, "base": str(corpus_path), "base_passages": len(rows), "size": n,
                   "deletes": deletes, "words": len(words)}
            k = math.ceil(n / len(rows))
            reused = write_corpus(folder, rows, maps, n, deletes, key)
            say(f"{n:,} passages ({k} copies of {len(rows):,}): corpus {'reused' if reused else 'written'} in "
                f"{folder}")
            size, _ = _child("size", {"corpus": str(folder), "store": str(work / f"store-{n}" / "kg.db"),
                                      "questions": questions, "processes": processes, "deletes": deletes,
                                      "quiet": progress is None})
            names_in_copies = {rename(name, maps[c]) for c in range(k) for name in names}
            result["sizes"].append({"passages": n, "copies": k, "corpus_names": len(names_in_copies),
                                    "corpus_reused": reused, **size, "corpus_passages": n})
            say(f"{n:,} passages measured: ingest + index {size['ingest_seconds']:.1f} s, "
                f"hybrid p50 {size['p50_ms']:.1f} ms")
            summarise(result)
            if on_size is not None:
                on_size(result)
    return result


def summarise(result: dict[str, Any]) -> None:
    """Add the growth exponents, first to last size and between neighbours, and the targets' verdicts."""
    out = result["sizes"]
    keys = [k for k, _, _ in FIGURES]
    result["slopes"] = {k: slope(out, k) for k in keys} if len(out) > 1 else {}
    result["slopes_between"] = [{"from": out[i]["passages"], "to": out[i + 1]["passages"],
                                 "slopes": {k: slope(out, k, i, i + 1) for k in keys}} for i in range(len(out) - 1)]
    result["targets"] = check_targets(out, result["slopes"])


# -- output ---------------------------------------------------------------------------------------------------
def _rule_text(rule: str, bound: float) -> str:
    return {"every": f"≤ {bound:g} at every size", "largest_max": f"≤ {bound:g} at the largest",
            "largest_min": f"≥ {bound:g} at the largest", "slope_max": f"slope ≤ {bound:g}"}[rule]


def print_scale_bench(r: dict[str, Any], console: Console) -> None:
    sizes = r["sizes"]
    loads = [x for s in sizes for x in s["load_average"]]
    t = Table(title=f"scale: {r['base_passages']:,} base passages copied with fresh names "
                    f"({r['renamed_words']:,} words renamed per copy), {r['processes']} process(es), "
                    f"{r['queries']} queries; 1-minute load average {min(loads):.1f} to {max(loads):.1f} on "
                    f"{r['cpu_cores']} cores", title_justify="left")
    t.add_column("figure")
    for s in sizes:
        t.add_column(f"{s['passages']:,}", justify="right")
    for col in ("slope", "target", "met"):
        t.add_column(col, justify="right" if col == "slope" else "left")
    for key, label, fmt in FIGURES:
        targets = [x for x in r["targets"] if x["figure"] == key]
        sl = r["slopes"].get(key)
        t.add_row(label, *("" if s.get(key) is None else format(s[key], fmt) for s in sizes),
                  "" if sl is None else f"{sl:.2f}", "; ".join(_rule_text(x["rule"], x["bound"]) for x in targets),
                  " ".join("n/a" if x["met"] is None else ("yes" if x["met"] else "[red]no[/red]")
                           for x in targets))
    console.print(t)
    console.print("tenths, passages/s: " + "; ".join(
        f"{s['passages']:,}: " + " ".join(f"{x['pps']:.0f}" for x in s["tenths"]) for s in sizes))
    console.print("cold open: a new process's seconds from start to first result, less its model loading; "
                  "the issue's targets at the largest size are set for 100,000 passages")


def plot_scale_bench(r: dict[str, Any], path: str | Path) -> None:
    """One small log-log panel per figure against corpus size, written as a PNG."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise KGError("--plot needs matplotlib: pip install 'kg-rag[bench]'") from None
    sizes = r["sizes"]
    shown = [(k, label) for k, label, _ in FIGURES[1:]
             if all(isinstance(s.get(k), (int, float)) and s[k] > 0 for s in sizes)]
    cols = 4
    rows = math.ceil(len(shown) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    x = [s["passages"] for s in sizes]
    for ax, (key, label) in zip(axes.flat, shown):
        y = [s[key] for s in sizes]
        ax.loglog(x, y, marker="o")
        sl = r["slopes"].get(key)
        ax.set_title(label + ("" if sl is None else f" (slope {sl:.2f})"), fontsize=8)
        # the measured values as the ticks: a few points rarely span a decade, so powers of ten say little
        ax.set_xticks(x, [f"{v:,}" for v in x])
        ax.set_yticks(y, [f"{v:,.0f}" if v >= 100 else f"{v:.3g}" for v in y])
        ax.minorticks_off()
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.3)
    for ax in list(axes.flat)[len(shown):]:
        ax.axis("off")
    fig.suptitle("kg bench scale: each figure against corpus size (passages), log-log", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    try:
        fig.savefig(path, dpi=110)
    except OSError as e:
        raise KGError(f"{path}: cannot write ({e})") from None
    finally:
        plt.close(fig)


def main() -> None:
    """``python -m kg.bench.scale TASK JSON``: one size, or one search process, writing JSON to ``out``."""
    task, args = sys.argv[1], json.loads(sys.argv[2])
    out = Path(args.pop("out"))
    result = measure_size(**args) if task == "size" else search_process(**args)
    out.write_text(json.dumps(result) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
