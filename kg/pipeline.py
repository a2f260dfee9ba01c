"""The ingest pipeline: load -> chunk -> extract -> store, one transaction per document; then re-link the
stored documents whose links the new names change. Deleting and syncing live here too."""

from __future__ import annotations

import hashlib
import json
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from extract.catalog import EntityCatalog
from extract.mask import masked, skip_ranges
from extract.pipeline import Extractor, SourceDoc
from kg.chunking import Chunker
from kg.loaders import LoadError, LoadWarning, expand_paths, load
from kg.types import DeleteReport, FileError, IngestReport, SyncPlan
from store import read
from store.db import BatchWriter, Database
from store.records import ChunkRecord, DocumentRecord
from store.writer import delete_document, gazetteer_names, known_names, relink_document, write_document

Progress = Callable[[int, int], None]  # (documents done, chunks done)


def load_catalog(db: Database) -> EntityCatalog:
    """The linking catalog as the store has it now."""
    with db.read() as s:
        return EntityCatalog.from_rows(*read.catalog_rows(s))


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _count_lines(path: Path) -> int:
    """Non-blank lines, read in fixed-size blocks: a huge line never sits in memory whole."""
    n, blank = 0, True
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            lines = block.split(b"\n")
            for i, piece in enumerate(lines):
                if piece.strip():
                    blank = False
                if i < len(lines) - 1:  # a newline ends the line
                    n += not blank
                    blank = True
    return n + (not blank)


def count_documents(files: list[Path]) -> int:
    """Documents the files hold (one per file, one per non-blank jsonl line): the progress bar's total."""
    total = 0
    for f in files:
        if f.suffix.lower() == ".jsonl":
            try:
                total += _count_lines(f)
            except OSError:
                total += 1
        else:
            total += 1
    return total


def _chunk_mentions(conn, doc_ids: list[int]):  # type: ignore[no-untyped-def]
    """(document id -> [(chunk id, ord, text, start, end)], chunk id -> [(start, end, source)])."""
    chunks: dict[int, list[tuple]] = {}
    mentions: dict[int, list[tuple[int, int, str]]] = {}
    for i in range(0, len(doc_ids), 400):
        part = tuple(doc_ids[i : i + 400])
        marks = ",".join("?" * len(part))
        for row in conn.exec_driver_sql(f"SELECT document_id, id, ord, text, start_char, end_char FROM chunks "
                                        f"WHERE document_id IN ({marks}) ORDER BY document_id, ord", part):
            chunks.setdefault(row[0], []).append(tuple(row[1:]))
        for cid, a, b, src in conn.exec_driver_sql(
                f'SELECT m.chunk_id, m.start, m."end", m.source FROM mentions m JOIN chunks c ON c.id = m.chunk_id '
                f"WHERE c.document_id IN ({marks})", part):
            mentions.setdefault(cid, []).append((a, b, src))
    return chunks, mentions


def links_are_current(extractor: Extractor, text: str, stored: list[tuple[int, int, str]]) -> bool:
    """Whether the gazetteer's names as they are now would leave a chunk's mentions as stored.

    Only the tokenizer runs. Every stored gazetteer match must still match, and every match of a name must be
    one of the stored spans or lose to one that overlaps it (longer, or as long and found by NER or earlier):
    exactly the rule ``Extractor._spans`` keeps spans by. Unsure cases answer no, and cost a re-link.
    """
    gazetteer = extractor.gazetteer
    if gazetteer is None:
        return not any(src == "gazetteer" for _, _, src in stored)
    doc = extractor.ner.nlp.make_doc(text)
    spans = []
    for a, b, src in stored:
        span = doc.char_span(a, b)
        if span is None:
            return False
        spans.append((span.start, span.end, src))
    matches = {(s, e) for s, e, _ in gazetteer(doc)}
    held = {(s, e) for s, e, _ in spans}
    if any(src == "gazetteer" and (s, e) not in matches for s, e, src in spans):
        return False
    for gs, ge in matches - held:
        rank = (gs - ge, 1, gs)
        if not any(s < ge and gs < e and (s - e, src != "ner", s) < rank for s, e, src in spans):
            return False
    return True


def _skip(meta: str | dict | None) -> list[tuple[int, int]]:
    """The code ranges of a stored document, from its metadata column (JSON text as SQLite gives it back)."""
    try:
        value = json.loads(meta) if isinstance(meta, str) else meta
    except ValueError:
        return []
    return skip_ranges(value.get("skip_spans")) if isinstance(value, dict) else []


def relink_pending(db: Database, extractor: Extractor, batch: int = 200, names_current: bool = False,
                   report: IngestReport | None = None) -> int:
    """Re-link the queued documents whose links the gazetteer's current names would change; returns how many,
    and adds what the graph gained by it to ``report``'s entities, mentions and relations.

    Documents are queued, in the transaction that changed the names, when a name new to the store occurs in
    their text or a name they matched is gone. Most need nothing: checking costs a tokenizer pass, and only
    the rest go through spaCy again, each replaced in a transaction of its own. The extractor's names are
    loaded from the store first, unless ``names_current`` says they are the store's already.
    """
    with db.read() as s:
        conn = s.connection()
        if conn.exec_driver_sql("SELECT 1 FROM relink_queue LIMIT 1").first() is None:
            return 0
        if not names_current:
            extractor.set_names(gazetteer_names(conn))
    relinked, after = 0, 0
    while True:
        with db.read() as s:
            conn = s.connection()
            part = [i for (i,) in conn.exec_driver_sql(
                "SELECT document_id FROM relink_queue WHERE document_id > ? ORDER BY 1 LIMIT ?", (after, batch))]
            if not part:
                return relinked
            after = part[-1]
            chunks, mentions = _chunk_mentions(conn, part)
            docs = {d: (src, title, h, n, tne, _skip(meta)) for d, src, title, h, n, tne, meta in conn.exec_driver_sql(
                f"SELECT id, source, title, content_hash, n_chars, title_names_entity, metadata FROM documents "
                f"WHERE id IN ({','.join('?' * len(part))})", tuple(part))}
        stale, current = [], []
        for d in part:
            if d not in docs:
                continue
            src, title, h, n, tne, skip = docs[d]
            if all(links_are_current(extractor, masked(text, a, skip), mentions.get(cid, []))
                   for cid, _, text, a, _ in chunks.get(d, [])):
                current.append(d)
                continue
            rec = DocumentRecord(source=src, title=title, content_hash=h, n_chars=n,
                                 chunks=[ChunkRecord(o, t, a, b) for _, o, t, a, b in chunks.get(d, [])])
            stale.append(SourceDoc(rec, title_names_entity=bool(tne), skip=skip))
        if current:
            with db.write() as s:
                s.connection().exec_driver_sql(
                    f"DELETE FROM relink_queue WHERE document_id IN ({','.join('?' * len(current))})", tuple(current))
        ids = {docs[d][0]: d for d in part if d in docs}
        extractor.ner.n_process_hint = sum(len(sd.record.chunks) for sd in stale)  # a few: no worker processes
        for rec in extractor.run(stale):
            with db.write() as s:
                entities, mentions, relations = relink_document(s, ids[rec.source], rec)
            relinked += 1
            if report is not None:
                report.entities += entities
                report.mentions += mentions
                report.relations += relations


class Ingestor:
    """Runs one ingest over paths; collects per-file errors instead of stopping at the first."""

    def __init__(self, db: Database, extractor: Extractor, chunker: Chunker):
        self.db = db
        self.extractor = extractor
        self.chunker = chunker

    def _stored(self, source: str) -> tuple[int, str, list[str]] | None:
        """The stored version of a source, looked up by its index: (document id, content hash, names)."""
        with self.db.read() as s:
            conn = s.connection()
            row = conn.exec_driver_sql("SELECT id, content_hash FROM documents WHERE source = ?", (source,)).first()
            if row is None:
                return None
            names = [n for (n,) in conn.exec_driver_sql("SELECT name FROM document_names WHERE document_id = ?",
                                                        (row[0],))]
        return row[0], row[1], names

    def _sources(self, files: Iterable[Path], report: IngestReport,
                 replacing: dict[str, tuple[int, list[str]]]) -> Iterator[SourceDoc]:
        """Documents to extract, each looked up in the store as it comes (nothing corpus-sized is held); a
        changed one goes into ``replacing`` with its stored id and names."""
        queued: set[str] = set()
        for path in files:
            for item in load(path):
                if isinstance(item, LoadError):
                    (report.warnings if isinstance(item, LoadWarning) else report.errors).append(
                        FileError(item.where, item.reason))
                    continue
                source, text = item.metadata["source"], item.page_content
                notes = item.metadata.pop("warnings", None) or []
                h = content_hash(text)
                old = None if source in queued else self._stored(source)
                if source in queued or (old is not None and old[1] == h):
                    report.skipped += 1
                    report.skipped_sources.append(source)
                    continue
                if old is not None:
                    replacing[source] = (old[0], old[2])
                report.warnings += [FileError(source, str(w)) for w in notes]
                queued.add(source)
                meta = {k: v for k, v in item.metadata.items() if k not in ("source", "title", "title_explicit")}
                rec = DocumentRecord(source=source, title=item.metadata["title"], content_hash=h,
                                     n_chars=len(text), meta=meta, chunks=self.chunker.split(text))
                yield SourceDoc(rec, title_names_entity=item.metadata["title_explicit"],
                                skip=skip_ranges(meta.get("skip_spans")))

    def _forget(self, names: list[str]) -> None:
        """Drop from the gazetteer those of these names the store does not have: an index probe each, where
        reloading every name would cost the whole store."""
        if names:
            with self.db.read() as s:
                known = known_names(s.connection(), names)
            self.extractor.remove_names(n for n in names if n not in known)

    def _files(self, paths: Iterable[str | Path], report: IngestReport, follow_links: bool = False) -> list[Path]:
        files: list[Path] = []
        for p in expand_paths(paths, follow_links=follow_links):
            if isinstance(p, LoadError):
                (report.warnings if isinstance(p, LoadWarning) else report.errors).append(FileError(p.where, p.reason))
            else:
                files.append(p)
        return files

    def run(self, paths: Iterable[str | Path], progress: Progress | None = None,
            on_total: Callable[[int], None] | None = None, follow_links: bool = False) -> IngestReport:
        t0 = time.perf_counter()
        report = IngestReport()
        files = self._files(paths, report, follow_links)
        total = count_documents(files)
        if on_total:
            on_total(total)
        with self.db.read() as s:
            self.extractor.set_names(gazetteer_names(s.connection()))
        self.extractor.ner.n_process_hint = total
        tick = _Ticker(progress)
        writer = _WriterThread(self.db, report, tick)
        replacing: dict[str, tuple[int, list[str]]] = {}
        try:
            for rec in self.extractor.run(self._sources(files, report, replacing), lambda n: tick(chunks=n)):
                old = replacing.pop(rec.source, None)
                writer.put(rec, None if old is None else old[0])
                self.extractor.add_names(rec.names)
                if old is not None or writer.failed:
                    # A replaced document's names may be gone, or a failed write's names never arrived: once the
                    # writes are in, the rest are matched against the names the store now has.
                    writer.reset()
                    self._forget((old[1] if old else []) + writer.take_failed())
        finally:
            writer.close()
        self._forget(writer.take_failed())
        if writer.any_failed and writer.written:
            # Documents extracted after a failed write may match that write's names: check them again.
            with self.db.write() as s:
                s.connection().exec_driver_sql("INSERT OR IGNORE INTO relink_queue (document_id) VALUES (?)",
                                               [(d,) for d in writer.written])
        report.relinked = relink_pending(self.db, self.extractor, names_current=True, report=report)
        report.seconds = round(time.perf_counter() - t0, 3)
        return report

    def plan(self, folder: str | Path, follow_links: bool = False) -> SyncPlan:
        """What syncing the store with a folder changes. Its members are the documents of files inside it: a
        file reached through a link that leaves it is added when links are followed, never deleted."""
        root = Path(folder)
        if not root.is_dir():
            raise LoadError(str(folder), "not a folder; --sync makes the store match a folder")
        plan = SyncPlan()
        report = IngestReport()
        files = self._files([root], report, follow_links)
        with self.db.read() as s:
            known = read.document_index(s)
        seen: set[str] = set()
        failed_files: set[str] = set()
        for path in files:
            for item in load(path):
                if isinstance(item, LoadWarning):
                    plan.warnings.append(FileError(item.where, item.reason))
                    continue
                if isinstance(item, LoadError):
                    plan.errors.append(FileError(item.where, item.reason))
                    failed_files.add(str(Path(item.where.split("#", 1)[0]).resolve()))
                    continue
                source = item.metadata["source"]
                seen.add(source)
                old = known.get(source)
                if old is not None and old[1] == content_hash(item.page_content):
                    plan.unchanged += 1
                    continue
                (plan.add if old is None else plan.replace).append(source)
                plan.warnings += [FileError(source, str(w)) for w in item.metadata.get("warnings") or []]
        plan.errors += report.errors
        plan.warnings = report.warnings + plan.warnings
        prefix = str(root.resolve())
        for source in sorted(known):
            file = source.split("#", 1)[0]
            inside = file == prefix or file.startswith(prefix.rstrip("/") + "/")
            if inside and source not in seen and file not in failed_files:
                plan.delete.append(source)
        return plan


def delete_documents(db: Database, doc_ids: Iterable[int]) -> DeleteReport:
    """Delete documents, one transaction each, and count what went with them (re-linking is the caller's)."""
    report = DeleteReport()
    t0 = time.perf_counter()
    for doc_id in doc_ids:
        with db.write() as s:
            conn = s.connection()
            row = conn.exec_driver_sql("SELECT source FROM documents WHERE id = ?", (doc_id,)).first()
            if row is None:
                continue
            chunks, mentions = conn.exec_driver_sql(
                "SELECT count(DISTINCT c.id), count(m.id) FROM chunks c LEFT JOIN mentions m ON m.chunk_id = c.id "
                "WHERE c.document_id = ?", (doc_id,)).one()
            entities, relations = delete_document(s, doc_id)
            report.documents.append(row[0])
            report.chunks += chunks
            report.mentions += mentions
            report.entities += entities
            report.relations += relations
    report.seconds = round(time.perf_counter() - t0, 3)
    return report


_RESET, _STOP = object(), object()


class _Ticker:
    """Progress from two threads: the writer counts documents as it stores them, and extraction counts chunks
    as spaCy finishes them, so a long document shows progress before it is stored."""

    def __init__(self, progress: Progress | None):
        self.progress = progress
        self.docs = self.chunks = 0
        self._lock = threading.Lock()

    def __call__(self, docs: int | None = None, chunks: int = 0) -> None:
        if self.progress is None:
            return
        with self._lock:
            self.docs = self.docs if docs is None else docs
            self.chunks = max(self.chunks, chunks)  # chunks extracted run ahead of chunks stored
            self.progress(self.docs, self.chunks)


class _WriterThread:
    """Writes records in a thread of its own while the next documents are extracted.

    Records are written in the order they were extracted, each in a SAVEPOINT of a short batch transaction:
    a record whose write fails leaves nothing behind. SQLite releases the GIL while it works, so the writes
    overlap with extraction.
    """

    def __init__(self, db: Database, report: IngestReport, progress: _Ticker, depth: int = 64):
        self.db, self.report, self.progress = db, report, progress
        self.queue: queue.Queue = queue.Queue(maxsize=depth)
        self.failed = False  # a write failed since the last reset
        self.any_failed = False
        self._failed_names: list[str] = []
        self.written: list[int] = []
        self.error: BaseException | None = None
        self._docs = self._chunks = 0
        self._thread = threading.Thread(target=self._run, name="kg-writer", daemon=True)
        self._thread.start()

    def put(self, rec: DocumentRecord, replaces: int | None) -> None:
        while True:
            if self.error is not None:
                raise RuntimeError("the writer thread stopped") from self.error
            try:
                self.queue.put((rec, replaces), timeout=0.5)
                return
            except queue.Full:
                continue

    def reset(self) -> None:
        """Wait until everything queued is written and committed."""
        self.put(_RESET, None)  # type: ignore[arg-type]
        self.queue.join()
        if self.error is not None:
            raise RuntimeError("the writer thread stopped") from self.error
        self.failed = False

    def take_failed(self) -> list[str]:
        """The names of the records whose writes failed since the last call (after ``reset`` or ``close``)."""
        names, self._failed_names = self._failed_names, []
        return names

    def close(self) -> None:
        if self._thread.is_alive():
            self.queue.put((_STOP, None))
            self._thread.join()
        if self.error is not None:
            raise RuntimeError("the writer thread stopped") from self.error

    def _run(self) -> None:
        try:
            with self.db.batch() as batch:
                while True:
                    try:
                        rec, replaces = self.queue.get(timeout=0.1)
                    except queue.Empty:  # never hold the write lock while waiting for extraction
                        batch.commit()
                        rec, replaces = self.queue.get()
                    try:
                        if rec is _STOP:
                            return
                        if rec is _RESET:
                            batch.commit()
                        else:
                            self._write(batch, rec, replaces)
                    finally:
                        self.queue.task_done()
        except BaseException as e:  # surfaced to the extracting thread by put/reset/close
            self.error = e
            while True:  # unblock a producer waiting on a full queue
                try:
                    self.queue.get_nowait()
                    self.queue.task_done()
                except queue.Empty:
                    break

    def _write(self, batch: BatchWriter, rec: DocumentRecord, replaces: int | None) -> None:
        try:
            with batch.item() as s:
                result = write_document(s, rec, replaces)
        except (SQLAlchemyError, ValueError, KeyError) as e:
            self.report.errors.append(FileError(rec.source, f"not stored, nothing written ({type(e).__name__}: {e})"))
            self.failed = self.any_failed = True
            self._failed_names += rec.names
            return
        self.written.append(result.document_id)
        r = self.report
        r.documents += 1
        r.replaced += replaces is not None
        r.chunks += result.n_chunks
        r.mentions += result.n_mentions
        r.entities += result.n_entities_new
        r.relations += result.n_relations_new
        self._docs += 1
        self._chunks += result.n_chunks
        self.progress(self._docs + r.skipped + len(r.errors), self._chunks)
