"""The ingest pipeline: load -> chunk -> extract -> store, one transaction per document."""

from __future__ import annotations

import hashlib
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
from store.db import Database
from store.records import DocumentRecord
from store.writer import delete_document, prune, write_document

Progress = Callable[[int, int], None]  # (documents done, chunks done)


def load_catalog(db: Database) -> EntityCatalog:
    """The linking catalog as the store has it now."""
    catalog = EntityCatalog()
    with db.read() as s:
        ents, aliases, pairs = read.catalog_rows(s)
    for i, name, typ, desc, kb, n in ents:
        catalog.add_entity(i, name, typ, description=desc, kb=kb, mentions=n)
    for eid, alias in aliases:
        if eid in catalog.entities:
            catalog.add_alias(eid, alias)
    for h, t in pairs:
        if h in catalog.entities and t in catalog.entities:
            catalog.add_cooccurrence(h, t)
    return catalog


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
        docs_done = chunks_done = 0
        with self.db.batch() as batch:
            for rec in self.extractor.run(self._sources(files, known, report)):
                old = known.get(rec.source)
                try:
                    with batch.item() as s:
                        if old is not None:  # prune after writing: the new version may use the old one's entities
                            delete_document(s, old[0], prune_orphans=False)
                        result = write_document(s, rec)
                        if old is not None:
                            prune(s)
                except (SQLAlchemyError, ValueError, KeyError) as e:
                    reason = f"not stored, nothing written ({type(e).__name__}: {e})"
                    report.errors.append(FileError(rec.source, reason))
                    batch.commit()  # the catalog is reloaded from what the store now holds
                    self.extractor.set_catalog(load_catalog(self.db))
                    continue
                if old is not None:  # the replaced version's orphans are gone from the store: start afresh
                    batch.commit()
                    self.extractor.set_catalog(load_catalog(self.db))
                    report.replaced += 1
                else:
                    self.extractor.committed(result.entity_ids)
                known[rec.source] = (result.document_id, rec.content_hash)
                report.documents += 1
                report.chunks += result.n_chunks
                report.mentions += result.n_mentions
                report.entities += len(result.entity_ids)
                report.relations += result.n_relations_new
                docs_done += 1
                chunks_done += result.n_chunks
                if progress:
                    progress(docs_done + report.skipped + len(report.errors), chunks_done)
        report.seconds = round(time.perf_counter() - t0, 3)
        return report
