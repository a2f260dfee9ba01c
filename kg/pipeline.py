"""The ingest pipeline: load -> chunk -> extract -> store, one transaction per document."""

from __future__ import annotations

import hashlib
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from extract.catalog import EntityCatalog
from extract.pipeline import Extractor, SourceDoc
from kg.chunking import Chunker
from kg.loaders import LoadError, expand_paths, load
from kg.types import FileError, IngestReport
from store import read
from store.db import BatchWriter, Database
from store.records import DocumentRecord, NewEntity
from store.writer import delete_document, prune, write_document

Progress = Callable[[int, int], None]  # (documents done, chunks done)


def load_catalog(db: Database) -> EntityCatalog:
    """The linking catalog as the store has it now."""
    with db.read() as s:
        return EntityCatalog.from_rows(*read.catalog_rows(s))


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def count_documents(files: list[Path]) -> int:
    """Documents the files hold (one per file, one per non-blank jsonl line): the progress bar's total."""
    total = 0
    for f in files:
        if f.suffix.lower() == ".jsonl":
            try:
                with f.open("rb") as fh:
                    total += sum(1 for line in fh if line.strip())
            except OSError:
                total += 1
        else:
            total += 1
    return total


class Ingestor:
    """Runs one ingest over paths; collects per-file errors instead of stopping at the first."""

    def __init__(self, db: Database, extractor: Extractor, chunker: Chunker):
        self.db = db
        self.extractor = extractor
        self.chunker = chunker

    def _sources(self, files: Iterable[Path], known: dict[str, tuple[int, str]],
                 report: IngestReport) -> Iterator[SourceDoc]:
        queued: set[str] = set()
        for path in files:
            for item in load(path):
                if isinstance(item, LoadError):
                    report.errors.append(FileError(item.where, item.reason))
                    continue
                source, text = item.metadata["source"], item.page_content
                h = content_hash(text)
                if known.get(source, (None, None))[1] == h or source in queued:
                    report.skipped += 1
                    report.skipped_sources.append(source)
                    continue
                queued.add(source)
                meta = {k: v for k, v in item.metadata.items() if k not in ("source", "title", "title_explicit")}
                rec = DocumentRecord(source=source, title=item.metadata["title"], content_hash=h,
                                     n_chars=len(text), meta=meta, chunks=self.chunker.split(text))
                yield SourceDoc(rec, title_names_entity=item.metadata["title_explicit"])

    def run(self, paths: Iterable[str | Path], progress: Progress | None = None,
            on_total: Callable[[int], None] | None = None) -> IngestReport:
        t0 = time.perf_counter()
        report = IngestReport()
        files: list[Path] = []
        for p in expand_paths(paths):
            if isinstance(p, LoadError):
                report.errors.append(FileError(p.where, p.reason))
            else:
                files.append(p)
        total = count_documents(files)
        if on_total:
            on_total(total)
        with self.db.read() as s:
            known = read.document_index(s)
        self.extractor.set_catalog(load_catalog(self.db))
        self.extractor.ner.n_process_hint = total
        writer = _WriterThread(self.db, report, progress)
        try:
            for rec in self.extractor.run(self._sources(files, known, report)):
                old = known.get(rec.source)
                writer.put(rec, None if old is None else old[0])
                self.extractor.committed()
                if old is not None or writer.failed:
                    # The store dropped what the old version alone used, or a write failed: link the rest
                    # against what the store now holds.
                    writer.reset()
                    self.extractor.set_catalog(load_catalog(self.db))
        finally:
            writer.close()
        report.seconds = round(time.perf_counter() - t0, 3)
        return report


_RESET, _STOP = object(), object()


class _WriterThread:
    """Writes records in a thread of its own while the next documents are extracted.

    Records come in the order they were extracted and refer to entities created by earlier records through
    temporary keys; the thread keeps the key -> id map. A record whose write fails leaves nothing behind, and
    its new entities are created by the first later record that refers to them. SQLite releases the GIL while
    it works, so the writes overlap with extraction.
    """

    def __init__(self, db: Database, report: IngestReport, progress: Progress | None, depth: int = 64):
        self.db, self.report, self.progress = db, report, progress
        self.queue: queue.Queue = queue.Queue(maxsize=depth)
        self.failed = False  # a write failed since the last reset
        self.error: BaseException | None = None
        self._ids: dict[int, int] = {}  # temporary key -> entity id, for this catalog's keys
        self._orphans: dict[int, NewEntity] = {}  # new entities of records that failed to write
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
        """Wait until everything queued is written and committed, then forget the temporary keys."""
        self.put(_RESET, None)  # type: ignore[arg-type]
        self.queue.join()
        if self.error is not None:
            raise RuntimeError("the writer thread stopped") from self.error
        self.failed = False

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
                    rec, replaces = self.queue.get()
                    try:
                        if rec is _STOP:
                            return
                        if rec is _RESET:
                            batch.commit()
                            self._ids.clear()
                            self._orphans.clear()
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
        own = {e.key for e in rec.new_entities}
        refs = {m.entity for m in rec.mentions} | {a.entity for a in rec.aliases}
        if rec.about_entity is not None:
            refs.add(rec.about_entity)
        adopted = [self._orphans[r] for r in refs if r < 0 and r not in own and r not in self._ids
                   and r in self._orphans]
        rec.new_entities += adopted
        try:
            with batch.item() as s:
                if replaces is not None:  # prune after writing: the new version may use the old one's entities
                    delete_document(s, replaces, prune_orphans=False)
                result = write_document(s, rec, self._ids)
                if replaces is not None:
                    prune(s)
        except (SQLAlchemyError, ValueError, KeyError) as e:
            self.report.errors.append(FileError(rec.source, f"not stored, nothing written ({type(e).__name__}: {e})"))
            self._orphans.update((n.key, n) for n in rec.new_entities)
            self.failed = True
            return
        for n in adopted:
            self._orphans.pop(n.key, None)
        self._ids.update(result.entity_ids)
        r = self.report
        r.documents += 1
        r.replaced += replaces is not None
        r.chunks += result.n_chunks
        r.mentions += result.n_mentions
        r.entities += len(result.entity_ids)
        r.relations += result.n_relations_new
        self._docs += 1
        self._chunks += result.n_chunks
        if self.progress:
            self.progress(self._docs + r.skipped + len(r.errors), self._chunks)
