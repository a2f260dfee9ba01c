"""The public Python API: ``KnowledgeGraph`` over one SQLite file."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from rapidfuzz import fuzz, process
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from extract.config import ExtractConfig
from extract.normalize import normalize
from kg.answer import AnswerConfig
from kg.chunking import ChunkConfig, Chunker
from kg.llm import LLMSettings
from kg.types import (
    EXPORT_FORMATS,
    AliasInfo,
    DeleteReport,
    DocumentInfo,
    DocumentView,
    EntityCard,
    EntitySummary,
    Evidence,
    ExportInfo,
    FileError,
    FusionInfo,
    GraphView,
    IngestReport,
    KBImportReport,
    MentionInfo,
    MergeInfo,
    Neighbor,
    Neighborhood,
    RelationInfo,
    Stats,
    SyncPlan,
)
from retrieve.config import RetrieverConfig
from store import read
from store.db import SCHEMA_HEAD, Database, OutdatedStore, StoreError, store_error
from store.records import KBEntity
from store.schema import Entity, Mention, Relation

if TYPE_CHECKING:
    import networkx as nx
    from langchain_core.language_models import BaseChatModel

    from extract.pipeline import Extractor
    from kg.answer import Answer
    from kg.pipeline import Progress
    from retrieve.langchain_retriever import KGRetriever
    from retrieve.retriever import Retriever, SearchReport, SearchResult

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_DB = "kg.db"
# Least rapidfuzz WRatio for a "did you mean" suggestion: a misspelling ('Mari Curi', 'Rutherfrod') scores
# 85-95, while unrelated names sharing a few letters score 60-80 and only confuse.
SUGGEST_CUTOFF = 85


def default_db() -> str:
    return os.environ.get("KG_DB") or DEFAULT_DB


class KGError(Exception):
    """A user-facing error: the message says what went wrong and, where it can, how to fix it."""


class NotFound(KGError):
    def __init__(self, name: str, suggestions: list[str]):
        hint = f" Did you mean: {', '.join(repr(s) for s in suggestions)}?" if suggestions else ""
        super().__init__(f"No entity named {name!r}.{hint}")
        self.name = name
        self.suggestions = suggestions


class NoSuchDocument(KGError):
    def __init__(self, doc_id: int, what: str = "document"):
        super().__init__(f"No {what} with id {doc_id}.")
        self.doc_id = doc_id


def _user_facing(f: F) -> F:
    """Store failures (read-only, damaged, another program's file) surface as one-line ``KGError``s."""
    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except (StoreError, DBAPIError, sqlite3.DatabaseError) as e:
            mapped = store_error(e, args[0].path)
            if mapped is None:
                raise
            raise KGError(str(mapped)) from e
    return wrapper  # type: ignore[return-value]


@dataclass
class KGConfig:
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    chunk: ChunkConfig = field(default_factory=ChunkConfig)
    retrieve: RetrieverConfig = field(default_factory=RetrieverConfig)
    answer: AnswerConfig = field(default_factory=AnswerConfig)
    llm: LLMSettings = field(default_factory=LLMSettings)

    @classmethod
    def from_env(cls) -> KGConfig:
        """Defaults, then the TOML file named by $KG_CONFIG if any, then the environment (``kg.settings``)."""
        return cls.load()

    @classmethod
    def load(cls, config_file: str | Path | None = None, store: str | Path | None = None) -> KGConfig:
        """Defaults, then a TOML file (``config_file``, else $KG_CONFIG, else ``kg.toml`` beside ``store``),
        then environment variables ``KG_SECTION__FIELD``; see ``kg.settings``. A bad setting is a KGError."""
        from kg.settings import SettingsError, load

        try:
            cfg, _ = load(config_file, store)
        except SettingsError as e:
            raise KGError(str(e)) from None
        return cfg  # type: ignore[no-any-return]


def _absolute_pattern(pattern: str) -> str:
    """A glob as a shell sees it: relative to the current folder, with the folders before its first wildcard
    resolved as stored sources are (symlinks followed)."""
    from wcmatch import glob as wc

    p = Path(pattern).expanduser()
    parts = p.parts if p.is_absolute() else Path.cwd().parts + p.parts
    literal = 0
    while literal < len(parts) - 1 and not wc.is_magic(parts[literal], flags=wc.GLOBSTAR | wc.BRACE):
        literal += 1
    base = Path(*parts[:literal]).resolve() if literal else Path("/")
    return str(base.joinpath(*parts[literal:]))


def _snippet(text: str, start: int, end: int, width: int = 60) -> str:
    a, b = max(0, start - width), min(len(text), end + width)
    before, after = ("…" if a else ""), ("…" if b < len(text) else "")
    return before + text[a:start] + "[" + text[start:end] + "]" + text[end:b] + after


class KnowledgeGraph:
    """A knowledge graph in one SQLite file: ingest documents, inspect entities, export the graph.

    Reading never changes the file: a store opens read-only, and one that does not exist yet reads as empty.
    The first write (ingest, delete, merge, KB import, index) creates or upgrades the store, and takes its
    writer lock, so another process's write waits for it. ``read_only=True`` refuses every write.

    >>> g = KnowledgeGraph("kg.db")
    >>> g.ingest(["docs/"])
    >>> g.entity("Marie Curie").relations
    """

    def __init__(self, path: str | Path | None = None, config: KGConfig | None = None, *, read_only: bool = False):
        self.path = Path(path or default_db())
        if self.path.exists() and self.path.is_dir():
            raise KGError(f"{self.path} is a directory; give a database file path such as {self.path / 'kg.db'}")
        self.config = config or KGConfig.load(store=self.path)
        self.read_only = read_only
        self.on_wait: Callable[[], None] | None = None  # called when a write waits for another process's
        self._db: Database | None = None
        self._outdated: OutdatedStore | None = None
        self._extractor: Extractor | None = None
        self._retriever: Retriever | None = None
        if self.path.exists():  # a file that is not a kg store is refused now, and left as it is
            try:
                self._db = Database(self.path, writable=False)
            except OutdatedStore as e:
                self._outdated = e  # reads say so; the first write upgrades it
            except StoreError as e:
                raise KGError(str(e)) from None

    @property
    def db(self) -> Database:
        """The open store: the reader, or the writer once something was written."""
        if self._db is None:
            if self._outdated is not None:
                raise KGError(str(self._outdated))
            if not self.path.exists():
                return self._empty()
            try:
                self._db = Database(self.path, writable=False)
            except StoreError as e:
                raise KGError(str(e)) from None
        return self._db

    def _empty(self) -> Database:
        """A store that does not exist yet reads as empty, without creating the file."""
        if not hasattr(self, "_memory"):
            self._memory = Database.empty()
        return self._memory

    def _writer(self) -> Database:
        if self.read_only:
            raise KGError(f"{self.path} is open read-only; open it without read_only to change it")
        if self._db is None or not self._db.writable:
            try:
                writer = Database(self.path, writable=True)
            except StoreError as e:
                raise KGError(str(e)) from None
            if self._db is not None:
                self._db.close()
            self._db, self._outdated = writer, None
            if self._retriever is not None:
                self._retriever.db = writer
        return self._db

    @contextlib.contextmanager
    def _writing(self) -> Iterator[Database]:
        """The writable store, under its writer lock for as long as the change lasts."""
        db = self._writer()
        with db.exclusive(self.on_wait):
            yield db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
        if hasattr(self, "_memory"):
            self._memory.close()

    def __enter__(self) -> KnowledgeGraph:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def schema_version(self) -> str | None:
        """The store's schema revision (None when the file does not exist yet)."""
        if not self.path.exists():
            return None
        if self._outdated is not None:
            from store.db import make_reader, schema_version

            engine = make_reader(self.path)
            try:
                return schema_version(engine)
            finally:
                engine.dispose()
        return SCHEMA_HEAD

    @_user_facing
    def upgrade(self) -> tuple[str | None, str]:
        """Create the store, or migrate it to this version's schema; returns (revision before, after)."""
        before = self.schema_version()
        with self._writing():
            pass
        return before, SCHEMA_HEAD

    def _merge_mark(self) -> int:
        with self.db.read() as s:
            return int(s.connection().exec_driver_sql("SELECT coalesce(max(id), 0) FROM merge_log").scalar_one())

    def _dissolved_since(self, mark: int) -> list[dict[str, Any]]:
        """The user merges that ended (one side lost all its mentions) after merge-log row ``mark``."""
        with self.db.read() as s:
            return [{"kept_id": k, "merged_id": m, "kept": kn, "merged": mn} for k, m, kn, mn in
                    s.connection().exec_driver_sql(
                        "SELECT kept_id, merged_id, kept_name, merged_name FROM merge_log WHERE id > ? "
                        "AND action = 'dissolved' ORDER BY id", (mark,))]

    # -- building ---------------------------------------------------------------------------------------------
    @property
    def extractor(self) -> Extractor:
        if self._extractor is None:
            from extract.pipeline import Extractor

            self._extractor = Extractor(self.config.extract)
        return self._extractor

    @_user_facing
    def ingest(self, paths: Iterable[str | Path], progress: Progress | None = None,
               on_total: Callable[[int], None] | None = None, index: bool = True,
               follow_links: bool = False) -> IngestReport:
        """Load, chunk, extract and store files and folders; unchanged documents are skipped. Then, unless
        ``index`` is false, encode the new chunks and entities for search (``index()`` does it later).
        Links inside a folder that lead out of it are skipped and reported unless ``follow_links``."""
        from kg.pipeline import Ingestor

        if isinstance(paths, (str, Path)):
            paths = [paths]
        with self._writing() as db:
            self._check_made_with(db, index)
            mark = self._merge_mark()
            loading = None
            if index:  # the retrieval models load while the spaCy workers start and extract
                loading = threading.Thread(target=self._load_retrieval_models, name="kg-load-models", daemon=True)
                loading.start()
            report = Ingestor(db, self.extractor, Chunker(self.config.chunk)).run(
                paths, progress, on_total, follow_links=follow_links)
            if loading is not None:
                loading.join()
            if index:  # also encodes what an interrupted earlier run left unencoded
                t0 = time.perf_counter()
                self._encode()
                self.retriever.compact()
                report.seconds = round(report.seconds + time.perf_counter() - t0, 3)
            self._record_made_with(db, index)
            report.dissolved_merges = self._dissolved_since(mark)
        self._invalidate()
        return report

    def _select_documents(self, selectors: Iterable[str]) -> list[int]:
        """Document ids for selectors: ``id:N`` or N, a source as stored, a file or folder path, or a glob.

        Paths and globs are relative to the current folder, as in a shell; ``*`` and ``?`` never match ``/``
        (``**`` matches any depth), and a jsonl file's pattern selects its records.
        """
        from wcmatch import glob as wc

        ids: dict[int, None] = {}
        missing = []
        with self.db.read() as s:
            conn = s.connection()

            def by_prefix(prefix: str) -> list[int]:  # an index range, not a scan: "p/a.jsonl#" .. "p/a.jsonl$"
                return [i for (i,) in conn.exec_driver_sql(
                    "SELECT id FROM documents WHERE source >= ? AND source < ?", (prefix, prefix[:-1] + chr(
                        ord(prefix[-1]) + 1)))]

            sources: dict[str, tuple[int, str]] | None = None
            for sel in selectors:
                found: list[int] = []
                bare = sel[3:] if sel.startswith("id:") else sel
                path = str(Path(sel).expanduser().resolve())
                if bare.isdigit():
                    found = [i for (i,) in conn.exec_driver_sql("SELECT id FROM documents WHERE id = ?", (int(bare),))]
                if not found:
                    found = [i for (i,) in conn.exec_driver_sql(
                        "SELECT id FROM documents WHERE source IN (?, ?)", (sel, path))]
                if not found and wc.is_magic(sel, flags=wc.GLOBSTAR | wc.BRACE):
                    sources = read.document_index(s) if sources is None else sources
                    pattern = _absolute_pattern(sel)
                    flags = wc.GLOBSTAR | wc.BRACE
                    found = [i for src, (i, _) in sources.items()
                             if wc.globmatch(src if "#" in sel else src.split("#", 1)[0], pattern, flags=flags)]
                elif not found:
                    found = by_prefix(path + "#") + by_prefix(path.rstrip("/") + "/")
                if not found:
                    missing.append(sel)
                ids.update(dict.fromkeys(sorted(found)))
            empty = conn.exec_driver_sql("SELECT count(*) FROM documents").scalar_one() == 0
        if missing:
            hint = " The store has no documents." if empty else " See `kg docs` for what the store holds."
            raise KGError(f"no document matches {', '.join(repr(m) for m in missing)}; nothing was deleted.{hint}")
        return list(ids)

    @_user_facing
    def find_documents(self, selectors: str | Iterable[str]) -> list[DocumentInfo]:
        """The documents selectors name (what ``delete`` would remove); an unmatched selector is an error."""
        ids = set(self._select_documents([selectors] if isinstance(selectors, str) else selectors))
        return [d for d in self.documents() if d.id in ids]

    @_user_facing
    def delete(self, selectors: str | Iterable[str]) -> DeleteReport:
        """Remove documents (by id, source, file or folder path, or glob) and everything only they
        contributed: chunks, vectors, mentions, evidence, and the entities, aliases and relations nothing else
        supports. The graph afterwards equals one built without them. Every selector must match something,
        or nothing is deleted."""
        from kg.pipeline import delete_documents, relink_pending

        if isinstance(selectors, str):
            selectors = [selectors]
        with self._writing() as db:
            ids = self._select_documents(selectors)
            mark = self._merge_mark()
            report = delete_documents(db, ids)
            t0 = time.perf_counter()
            report.relinked = relink_pending(db, self.extractor)
            report.seconds = round(report.seconds + time.perf_counter() - t0, 3)
            report.dissolved_merges = self._dissolved_since(mark)
        self._invalidate()
        return report

    @_user_facing
    def sync_plan(self, folder: str | Path, follow_links: bool = False) -> SyncPlan:
        """What ``sync`` would do: the sources it adds, replaces and deletes."""
        from kg.loaders import LoadError
        from kg.pipeline import Ingestor

        try:
            return Ingestor(self.db, self.extractor, Chunker(self.config.chunk)).plan(folder, follow_links=follow_links)
        except LoadError as e:
            raise KGError(f"{e.where}: {e.reason}") from None

    @_user_facing
    def sync(self, folder: str | Path, progress: Progress | None = None,
             on_total: Callable[[int], None] | None = None, index: bool = True,
             plan: SyncPlan | None = None, follow_links: bool = False) -> IngestReport:
        """Make the store match a folder: add new files, replace changed ones, delete the documents of files
        that are gone. Unchanged files are skipped. ``plan``, from ``sync_plan``, saves reading the folder twice."""
        from kg.pipeline import delete_documents

        if not Path(folder).is_dir():
            raise KGError(f"{folder}: no such folder" if not Path(folder).exists() else
                          f"{folder} is not a folder; sync makes the store match a folder")
        with self._writing() as db:
            if plan is None:
                plan = self.sync_plan(folder, follow_links=follow_links)
            with db.read() as s:
                index_of = read.document_index(s)
            gone = [index_of[src][0] for src in plan.delete if src in index_of]
            mark = self._merge_mark()
            t0 = time.perf_counter()
            deleted = delete_documents(db, gone)
            report = self.ingest([folder], progress, on_total, index=index, follow_links=follow_links)
            report.deleted = len(deleted.documents)
            report.seconds = round(report.seconds + time.perf_counter() - t0, 3)
            report.dissolved_merges = self._dissolved_since(mark)
        return report

    # -- retrieval --------------------------------------------------------------------------------------------
    @property
    def retriever(self) -> Retriever:
        if self._retriever is None:
            from retrieve.retriever import Retriever

            self._retriever = Retriever(self.db, self.config.retrieve)
        return self._retriever

    def _load_retrieval_models(self) -> None:
        with contextlib.suppress(Exception):  # a model that fails to load says why when indexing needs it
            self.retriever.splade  # noqa: B018
            self.retriever.dense  # noqa: B018

    def _encode(self) -> dict[str, int]:
        from retrieve.models import ModelNotFound

        self.retriever.db = self.db
        try:
            return self.retriever.sync()
        except ModelNotFound as e:
            raise KGError(str(e)) from None

    @_user_facing
    def index(self, dense: bool | None = None, compact: bool = False) -> dict[str, int]:
        """Encode what the store has no current vectors for (new chunks and entities); ``ingest`` calls it.
        ``dense=True`` also embeds every chunk for the dense channel, and keeps that current from then on.
        Then the persisted search index takes in the store's changes once they are a large enough share of it
        (or at once with ``compact``); ``done["compacted"]`` says whether it did."""
        if dense:
            self.config.retrieve.dense = True
        with self._writing() as db:
            done = self._encode()  # every chunk without a vector of the configured encoder: a new one re-encodes all
            done["compacted"] = int(self.retriever.compact(force=compact))
            self._record_made_with(db, index=True, encoder_only=True)
        self._invalidate()
        return done

    def _check_encoder(self) -> None:
        """Refuse a search whose word-piece encoder is not the one the store's chunks were encoded with."""
        from store.made_with import ENCODER, recorded

        if self._db is None:
            return
        with self.db.read() as s:
            have = recorded(s.connection()).get(ENCODER)
        want = self.retriever.splade.identity if have is not None else None
        if have is not None and have != want:
            raise KGError(f"the store's chunks are encoded with {have}, and this search would use {want} "
                          f"(retrieve.sparse_model / sparse_max_length): re-encode them with `kg index`, or search "
                          f"with the store's encoder")

    def _made_with(self, encoder: bool) -> dict[str, str]:
        from store.made_with import ENCODER

        c = self.config
        out = {"chunk.size": str(c.chunk.size), "chunk.overlap": str(c.chunk.overlap), "extract.model": c.extract.model}
        if encoder:
            out[ENCODER] = self.retriever.splade.identity
        return out

    def _check_made_with(self, db: Database, index: bool) -> None:
        """Refuse an ingest whose chunking, spaCy model or encoder differs from what the store was made with."""
        from store import made_with

        with db.read() as s:
            conn = s.connection()
            if not conn.exec_driver_sql("SELECT EXISTS (SELECT 1 FROM documents)").scalar():
                return  # an empty store takes the settings of its first ingest
            diff = made_with.differences(conn, self._made_with(encoder=index))
        if diff:
            what = "; ".join(f"{k} is {have!r} in the store, {want!r} here" for k, have, want in diff)
            hint = ("run `kg index` with the new encoder first, which re-encodes every chunk" if diff[0][0] ==
                    made_with.ENCODER else "use the store's settings, or build a new store (--db) with these")
            raise KGError(f"this ingest would mix chunks or vectors made two ways: {what}. To go on, {hint}.")

    def _record_made_with(self, db: Database, index: bool, encoder_only: bool = False) -> None:
        from store import made_with

        values = self._made_with(encoder=index)
        if encoder_only:
            values = {k: v for k, v in values.items() if k == made_with.ENCODER}
        with db.write() as s:
            conn = s.connection()
            if conn.exec_driver_sql("SELECT EXISTS (SELECT 1 FROM chunks)").scalar():
                made_with.record(conn, values)

    @_user_facing
    def warm_up(self) -> None:
        """Load the retrieval models and build the index now rather than on the first search."""
        self.retriever.warm_up()

    @_user_facing
    def search(self, query: str, k: int = 8, mode: str = "hybrid", *, entities: bool = True,
               dense: bool | None = None) -> list[SearchResult]:
        """Chunks ranked for ``query``, each with its score breakdown (matched word pieces and entities, the
        graph path from a query entity). Modes: sparse, graph, hybrid, dense."""
        return self.search_report(query, k, mode, entities=entities, dense=dense).results

    def as_retriever(self, k: int = 8, mode: str = "hybrid", **search_kwargs: Any) -> KGRetriever:
        """This graph's search as a LangChain retriever (``search_kwargs``: entities, dense); each option can also
        be given per call, ``retriever.invoke(question, k=3)``. A bad option is a ``KGError`` here, a
        ``ValueError`` from ``invoke``, with the same message."""
        from retrieve.langchain_retriever import KGRetriever, check_options

        try:
            check_options(k, mode, search_kwargs)
        except ValueError as e:
            raise KGError(str(e)) from None
        return KGRetriever(retriever=self.retriever, k=k, mode=mode, search_kwargs=search_kwargs)

    @_user_facing
    def search_report(self, query: str, k: int = 8, mode: str = "hybrid", *, entities: bool = True,
                      dense: bool | None = None) -> SearchReport:
        """``search`` plus the entities found in the query, the time taken, and how many chunks are not
        encoded yet (a search never encodes: ``index()`` does)."""
        from retrieve.models import ModelNotFound

        if k < 1:
            raise KGError(f"k must be at least 1, not {k}")
        self.retriever.db = self.db
        self._check_encoder()
        try:
            return self.retriever.search(query, k, mode, entities=entities, dense=dense)
        except ModelNotFound as e:
            raise KGError(str(e)) from None
        except ValueError as e:
            raise KGError(str(e)) from None

    @_user_facing
    def ask(self, question: str, k: int = 8, mode: str = "hybrid", *, llm: str | BaseChatModel | None = None,
            extractive: bool = False, on_token: Callable[[str], None] | None = None,
            fallback: bool = False) -> Answer:
        """Answer ``question`` from the top ``k`` chunks and the graph facts about its entities, with [n]
        citations resolved to chunks.

        ``llm`` is a LangChain chat model object or a name: ``local``, ``llamacpp:FILE.gguf``, ``PROVIDER:MODEL``
        (default ``$KG_LLM``, else ``local``). ``on_token`` receives the reply as it streams. ``extractive`` skips
        generation and answers with the best evidence sentences. With ``fallback``, an LLM that cannot be loaded
        gives the extractive answer (``Answer.fallback`` says why) instead of an error.
        """
        from kg.answer import GenerationFailed, answer_from, question_too_long
        from kg.llm import LLMUnavailable, default_llm, load_llm, model_name, parse_llm, token_counter

        if not question.strip():
            raise KGError("the question is empty")
        cfg = self.config.answer
        try:
            cfg.check()
        except ValueError as e:
            raise KGError(str(e)) from None
        model, name, why = None, "extractive", None
        if not extractive:
            try:
                if llm is None or isinstance(llm, str):
                    spec = parse_llm(llm or default_llm())
                    name, model = str(spec), load_llm(spec, self.config.llm)
                else:  # a LangChain chat model object
                    name, model = model_name(llm), llm
            except LLMUnavailable as e:
                if not fallback:
                    raise KGError(f"{e} (or answer without an LLM: --no-llm)") from None
                model, name, why = None, "extractive", str(e)
        too_long = question_too_long(question, token_counter(model)[0], cfg)
        if too_long:
            raise KGError(too_long)
        t0 = time.perf_counter()
        report = self.search_report(question, k, mode)
        named = [q.entity_id for q in report.query_entities if q.how != "retrieved"]
        with self.db.read() as s:
            facts = read.facts_about(s, named, [r.chunk_id for r in report.results], limit=2 * cfg.max_facts)
        try:
            answer = answer_from(question, report.results, facts, [q.name for q in report.query_entities], model,
                                 name, cfg, on_token, time.perf_counter() - t0)
        except GenerationFailed as e:
            raise KGError(f"the LLM call failed ({e}); answer without an LLM with --no-llm") from None
        answer.fallback = why
        answer.query_entities = [vars(q) for q in report.query_entities]
        return answer

    @_user_facing
    def import_kb(self, path: str | Path) -> KBImportReport:
        """Seed entities from a JSONL knowledge base: one {id, name, aliases, description, type} a line.

        A line with an unknown type, or an id an earlier line already gave, is skipped and reported in
        ``errors``, as is a malformed line; the rest are imported."""
        from kg.pipeline import relink_pending
        from store.kinds import KB_TYPES
        from store.writer import import_kb

        entities, errors = [], []
        first_line: dict[str, int] = {}
        p = Path(path)
        try:
            lines = p.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise KGError(f"{p}: cannot read knowledge base ({e})") from None
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                if not isinstance(obj, dict):
                    raise ValueError("not an object")
                name, kb_id = obj.get("name"), obj.get("id")
                if not isinstance(name, str) or not name.strip() or not isinstance(kb_id, str | int):
                    raise ValueError('needs a string "name" and an "id"')
                raw = obj.get("aliases") or []
                if isinstance(raw, str):
                    raw = [raw]
                if not isinstance(raw, list):
                    raise ValueError('"aliases" must be a list of strings')
                typ = str(obj.get("type") or "MISC").upper()
                if typ not in KB_TYPES:
                    raise ValueError(f"unknown type {obj.get('type')!r}; use one of {', '.join(sorted(KB_TYPES))}")
                if str(kb_id) in first_line:
                    raise ValueError(f"repeated id {str(kb_id)!r} (first on line {first_line[str(kb_id)]})")
                first_line[str(kb_id)] = n
                aliases = [a for a in raw if isinstance(a, str) and a.strip()]
                entities.append(KBEntity(str(kb_id), name.strip(), typ, obj.get("description") or None, aliases))
            except (json.JSONDecodeError, ValueError) as e:
                errors.append(FileError(f"{p}:{n}", f"skipped: {e}"))
        if not entities and errors:
            raise KGError(f"{p}: no valid entity lines ({errors[0].reason})")
        with self._writing() as db:
            with db.write() as s:
                created, updated = import_kb(s, entities, normalize)
            relink_pending(db, self.extractor)
        self._invalidate()
        return KBImportReport(created, updated, errors)

    # -- inspection -------------------------------------------------------------------------------------------
    @_user_facing
    def stats(self) -> Stats:
        with self.db.read() as s:
            return Stats(**read.stats(s), path=str(self.path))

    @_user_facing
    def documents(self) -> list[DocumentInfo]:
        with self.db.read() as s:
            return [DocumentInfo(*r) for r in read.documents(s)]

    @_user_facing
    def entities(self, type: str | None = None, top: int | None = None) -> list[EntitySummary]:
        with self.db.read() as s:
            return [EntitySummary(*r) for r in read.entities(s, type.upper() if type else None, top)]

    @_user_facing
    def resolve(self, name: str) -> list[int]:
        """Entity ids a name refers to (``id:N`` or a name or alias), most mentioned first."""
        with self.db.read() as s:
            if name.startswith("id:") and name[3:].isdigit():
                e = s.get(Entity, int(name[3:]))
                while e is not None and e.merged_into_id is not None:
                    e = s.get(Entity, e.merged_into_id)
                return [e.id] if e is not None else []
            exact = list(s.scalars(select(Entity.id).where(Entity.name == name, read.LIVE)))
            by_alias = read.entity_ids_by_norm(s, normalize(name))
            return list(dict.fromkeys(exact + by_alias))

    def _one(self, name: str) -> int:
        ids = self.resolve(name)
        if not ids:
            with self.db.read() as s:
                names = [n for _, n in read.entity_names(s)]
            best = process.extract(name, names, scorer=fuzz.WRatio, limit=5, score_cutoff=SUGGEST_CUTOFF)
            raise NotFound(name, list(dict.fromkeys(n for n, _, _ in best)))
        return ids[0]

    def _summary(self, entity_id: int) -> EntitySummary:
        with self.db.read() as s:
            e = s.get(Entity, entity_id)
            assert e is not None
            docs = read.documents_of(s, entity_id)
            n = sum(d[3] for d in docs)
            return EntitySummary(e.id, e.name, e.type, n, len(docs), e.kb_id)

    @_user_facing
    def entity(self, name: str, mentions: int = 10) -> EntityCard:
        """Everything about one entity: aliases, mentions with snippets, relations with evidence, documents."""
        ids = self.resolve(name) or [self._one(name)]
        eid = ids[0]
        with self.db.read() as s:
            e = s.get(Entity, eid)
            assert e is not None
            docs = read.documents_of(s, eid)
            return EntityCard(
                id=e.id, name=e.name, type=e.type, description=e.description, kb_id=e.kb_id,
                mention_count=read.mention_counts_of(s, [eid]).get(eid, 0),
                aliases=[AliasInfo(*a) for a in read.aliases_of(s, eid)],
                mentions=[MentionInfo(sf, lab, src, round(conf, 3), title, cid, _snippet(text, a, b), did, at + a,
                                      at + b)
                          for sf, lab, src, conf, text, a, b, title, cid, did, at
                          in read.mentions_of(s, eid, mentions)],
                relations=[RelationInfo(r["id"], r["head"], r["predicate"], r["tail"], r["weight"],
                                        [Evidence(**ev) for ev in r["evidence"]], r["head_id"], r["tail_id"])
                           for r in read.relations_of(s, eid)],
                documents=[{"id": i, "title": t, "source": src, "mentions": n} for i, t, src, n in docs],
                same_name=[self._summary(i) for i in ids[1:]],
                fused=self._folds(s, eid),
            )

    def _folds(self, s: Any, entity_id: int | None = None) -> list[FusionInfo]:
        out = []
        for _, _, rule, weighed, name, docs, eid, judge in read.folds(s, entity_id):
            into = s.get(Entity, eid) if eid is not None else None
            target = into.name if into is not None else "?"
            kind = into.type if into is not None else "entity"
            others = weighed - 1
            if rule == "judged":
                why = f"{judge} judged {name!r} to be {target!r} among {weighed} longer names"
            else:
                why = (f"{name!r} abbreviates one {kind} name only, {target!r}" if rule == "acronym" else
                       f"{name!r} is held by one {kind} name only, {target!r}")
            if others and rule != "judged":
                why += f" ({others} other longer name{'s' if others != 1 else ''} of another type or the same entity)"
            out.append(FusionInfo(name or "?", target, rule, weighed, int(docs or 0), why))
        return out

    @_user_facing
    def fusions(self) -> dict[str, list]:
        """The names fused across documents into a longer one, each with why, and the fusions users undid."""
        with self.db.read() as s:
            return {"fused": self._folds(s),
                    "undone": [{"name": n, "into": t} for n, t in read.vetoed_folds(s)]}

    @_user_facing
    def fuse(self, llm: Any = None, limit: int = 50, dry_run: bool = False) -> list[Any]:
        """Let an LLM judge up to ``limit`` names that cross-document fusion left apart though longer names of
        their type hold them (the most used first), and fold those it places: each fold is recorded in the merge
        log and undone with ``unfuse``. ``llm`` is a chat model object or a name as for ``ask``; ``dry_run``
        asks but changes nothing. Returns a ``FuseDecision`` per name asked."""
        from kg.fuse import judge
        from kg.llm import LLMUnavailable, default_llm, load_llm, model_name, parse_llm

        if limit < 1:
            raise KGError("--limit must be at least 1")
        try:
            if llm is None or isinstance(llm, str):
                spec = parse_llm(llm or default_llm())
                name, model = str(spec), load_llm(spec, self.config.llm)
            else:
                name, model = model_name(llm), llm
        except LLMUnavailable as e:
            raise KGError(str(e)) from None
        if dry_run:
            return judge(self.db, model, f"llm:{name}", limit, dry_run=True)
        with self._writing() as db:
            decisions = judge(db, model, f"llm:{name}", limit, dry_run=False)
        self._invalidate()
        return decisions

    @_user_facing
    def unfuse(self, name: str, allow: bool = False) -> dict[str, Any]:
        """Undo the fusion of the name ``name`` into a longer one, for good (later documents do not redo it);
        with ``allow``, lift that veto so that fusion decides again. Recorded in the merge log."""
        from store.resolve import FoldError, allow_fold, undo_fold

        norm = normalize(name)
        if not norm:
            raise KGError(f"{name!r} is not a name")
        with self._writing() as db:
            try:
                with db.write() as s:
                    pairs = allow_fold(s.connection(), norm) if allow else [undo_fold(s.connection(), norm)]
            except FoldError as e:
                raise KGError(f"{e}; `kg fusions` lists the fused names") from None
        self._invalidate()
        return {"action": "allow" if allow else "unfuse", "name": pairs[0][0], "into": [t for _, t in pairs]}

    @_user_facing
    def autocomplete(self, prefix: str, type: str | None = None, limit: int = 10) -> list[EntitySummary]:
        """Entities for a search box: those with a name or alias starting with ``prefix`` (most mentioned first),
        then close spellings (fuzzy), of ``type`` if given."""
        if limit < 1:
            raise KGError("limit must be at least 1")
        norm = normalize(prefix)
        with self.db.read() as s:
            ids = read.by_prefix(s, norm, type, limit)
            if len(ids) < limit and len(norm) >= 3:
                names = {i: n for i, n in read.entity_names(s, type) if i not in ids}
                best = process.extract(prefix, names, scorer=fuzz.WRatio, limit=limit - len(ids),
                                       score_cutoff=SUGGEST_CUTOFF)
                ids += [i for _, _, i in best]
        return [self._summary(i) for i in ids]

    @_user_facing
    def subgraph(self, names: Iterable[str], hops: int = 1, limit: int = 60,
                 types: Iterable[str] | None = None) -> GraphView:
        """The entities within ``hops`` relations of these (names, aliases or ``id:N``), at most ``limit`` of
        them nearest first, only of ``types`` if given (the seeds always), with the relations among them."""
        if hops < 0 or limit < 1:
            raise KGError("hops must be at least 0 and limit at least 1")
        seeds = list(dict.fromkeys(self._one(n) for n in names))
        wanted = set(types or ())
        found: dict[int, int] = {e: 0 for e in seeds}
        with self.db.read() as s:
            for seed in seeds:
                near, _ = read.neighborhood(s, seed, hops, limit) if hops else ({seed: (0, "")}, [])
                for e, (d, _) in near.items():
                    found[e] = min(d, found.get(e, d))
            info = {i: (n, t) for i, n, t in s.execute(
                select(Entity.id, Entity.name, Entity.type).where(Entity.id.in_(list(found))))}
            keep = [e for e in found if e in seeds or (e in info and (not wanted or info[e][1] in wanted))]
            counts = read.mention_counts_of(s, keep)
            keep = sorted(keep, key=lambda e: (e not in seeds, found[e], -counts.get(e, 0), e))[: max(limit,
                                                                                                  len(seeds))]
            ids = set(keep)
            edges = s.execute(select(Relation.head_id, Relation.tail_id, Relation.predicate, Relation.weight)
                              .where(Relation.head_id.in_(keep), Relation.tail_id.in_(keep),
                                     Relation.head_id != Relation.tail_id)).all()
        nodes = [{"id": e, "name": info[e][0], "type": info[e][1], "mentions": counts.get(e, 0), "hops": found[e],
                  "seed": e in seeds} for e in keep if e in info]
        return GraphView(nodes, [{"head": h, "tail": t, "predicate": p, "weight": float(w)}
                                 for h, t, p, w in edges if h in ids and t in ids])

    @_user_facing
    def document(self, doc_id: int) -> DocumentView:
        """One document's text with its mentions, each with the entity it is linked to."""
        with self.db.read() as s:
            found = read.document_view(s, doc_id)
        if found is None:
            raise NoSuchDocument(doc_id)
        (i, source, title, about), text, mentions = found
        return DocumentView(i, source, title, about, text, [
            {"start": a, "end": b, "surface": sf, "label": lab, "entity_id": e, "entity": n, "type": t}
            for a, b, sf, lab, e, n, t in mentions])

    @_user_facing
    def chunk(self, chunk_id: int) -> dict[str, Any]:
        """One chunk: its text, where it sits in its document, and the entities it mentions, most often first."""
        with self.db.read() as s:
            found = read.chunks_by_id(s, [chunk_id]).get(chunk_id)
            if found is None:
                raise NoSuchDocument(chunk_id, "chunk")
            doc, ord_, text, start, end, source, title = found
            mentioned = s.execute(select(Entity.id, Entity.name, Entity.type, func.count())
                                  .join(Mention, Mention.entity_id == Entity.id).where(Mention.chunk_id == chunk_id)
                                  .group_by(Entity.id).order_by(func.count().desc(), Entity.name)).all()
        return {"id": chunk_id, "document_id": doc, "ord": ord_, "text": text, "start_char": start, "end_char": end,
                "source": source, "title": title,
                "entities": [{"id": i, "name": n, "type": t, "mentions": c} for i, n, t, c in mentioned]}

    @_user_facing
    def graph(self) -> nx.MultiDiGraph:
        """The entity graph as networkx: nodes carry name/type/mentions, edges predicate/weight."""
        from store.graph import entity_graph

        with self.db.read() as s:
            return entity_graph(s)

    @_user_facing
    def neighbors(self, name: str, hops: int = 1, limit: int | None = None) -> Neighborhood:
        """Entities within ``hops`` relation edges, in either direction, nearest first; the cost follows the
        neighbourhood, not the graph. ``limit`` caps how many entities come back."""
        if hops < 1:
            raise KGError("--hops must be at least 1")
        eid = self._one(name)
        with self.db.read() as s:
            found, edges = read.neighborhood(s, eid, hops, limit)
            info = {i: (n, t) for i, n, t in s.execute(
                select(Entity.id, Entity.name, Entity.type).where(Entity.id.in_(list(found))))}
            counts = read.mention_counts_of(s, found)
        out = [Neighbor(n, info[n][0], info[n][1], d, via)
               for n, (d, via) in sorted(found.items(), key=lambda x: (x[1][0], -counts.get(x[0], 0), x[0]))
               if n != eid]
        named = sorted(((info[h][0], p, info[t][0], w) for h, p, t, w in edges), key=lambda x: -x[3])
        return Neighborhood(self._summary(eid), hops, out, named)

    @_user_facing
    def export(self, path: str | Path, format: str = "graphml") -> ExportInfo:
        """Write the entity graph as GraphML, GEXF, node-link JSON, CSV (``NAME.nodes.csv`` and
        ``NAME.edges.csv``) or a Cypher script, each with labels, types, KB ids, descriptions, mention and document
        counts, and each relation's predicate, weight and first evidence sentence with its document."""
        from kg.export import WRITERS
        from store.graph import export_graph

        fmt = format.lower()
        if fmt not in EXPORT_FORMATS:
            raise KGError(f"unknown export format {format!r}; choose one of {', '.join(EXPORT_FORMATS)}")
        out = Path(path)
        if out.parent and not out.parent.exists():
            raise KGError(f"folder {out.parent} does not exist")
        with self.db.read() as s:
            g = export_graph(s)
        files = WRITERS[fmt](g, out)
        return ExportInfo(str(files[0]), fmt, g.number_of_nodes(), g.number_of_edges(), [str(f) for f in files])

    # -- curation ---------------------------------------------------------------------------------------------
    def _unique(self, name: str) -> int:
        ids = self.resolve(name)
        if len(ids) > 1:
            with self.db.read() as s:
                opts = ", ".join(f"id:{i} ({s.get(Entity, i).type})" for i in ids[:5])  # type: ignore[union-attr]
            raise KGError(f"{name!r} names several entities: {opts}. Pick one with its id, e.g. 'id:{ids[0]}'.")
        return self._one(name)

    @_user_facing
    def merge(self, keep: str, other: str) -> MergeInfo:
        """Fold entity ``other`` into ``keep``; recorded in the merge log and undone by ``unmerge``."""
        from store.merge import MergeError
        from store.merge import merge as merge_entities

        with self._writing() as db:
            a, b = self._unique(keep), self._unique(other)
            try:
                with db.write() as s:
                    log = merge_entities(s, s.get(Entity, a), s.get(Entity, b))  # type: ignore[arg-type]
                    info = (log.id, len(log.moved["mentions"]), len(log.moved["aliases"]))
            except MergeError as e:
                raise KGError(str(e)) from None
        self._invalidate()
        return MergeInfo("merge", self._summary(a), self._summary(b), info[1], info[2], info[0])

    @_user_facing
    def unmerge(self, name: str) -> MergeInfo:
        """Undo the latest merge involving this entity (either side)."""
        from store.merge import MergeError
        from store.merge import unmerge as unmerge_entity

        with self._writing() as db:
            eid = self._unmerge_target(name)
            try:
                with db.write() as s:
                    log = unmerge_entity(s, s.get(Entity, eid))  # type: ignore[arg-type]
                    info = (log.id, log.kept_id, log.merged_id, len(log.moved["mentions"]),
                            len(log.moved["aliases"]))
            except MergeError as e:
                raise KGError(str(e)) from None
        self._invalidate()
        return MergeInfo("unmerge", self._summary(info[1]), self._summary(info[2]), info[3], info[4], info[0])

    @_user_facing
    def merge_log(self) -> list[dict[str, object]]:
        """Every merge and unmerge, newest first."""
        with self.db.read() as s:
            rows = read.merge_log(s)
            return [{"id": r.id, "action": r.action, "kept_id": r.kept_id, "merged_id": r.merged_id,
                     "kept": r.kept_name, "merged": r.merged_name,
                     "at": r.created_at.isoformat(timespec="seconds"), "undone": r.undone}
                    for r in reversed(rows)]

    def _unmerge_target(self, name: str) -> int:
        with self.db.read() as s:
            if name.startswith("id:") and name[3:].isdigit() and s.get(Entity, int(name[3:])) is not None:
                return int(name[3:])
            tomb = s.scalars(select(Entity.id).where(Entity.name == name, Entity.merged_into_id.is_not(None))).first()
        return tomb if tomb is not None else self._unique(name)

    def _invalidate(self) -> None:
        """The store changed under the retriever's feet; its next search rebuilds what it needs."""
