"""The ``kg`` command line: each command is a thin shell over one ``KnowledgeGraph`` method."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console
from rich.markup import escape as markup_escape
from rich.table import Table

from kg.types import EXPORT_FORMATS, EntityCard, FileError, IngestReport, MergeInfo, Neighborhood, SyncPlan
from retrieve.config import FUSIONS, MODES

if TYPE_CHECKING:
    from kg.answer import Answer
    from kg.api import KGConfig, KnowledgeGraph

# The API (SQLAlchemy, and through it the models) is imported by the commands that use it, so that
# `kg --version` and `kg --help` answer at once.

F = TypeVar("F", bound=Callable[..., Any])

# What a terminal would act on rather than show: C0 controls but tab and newline, DEL, C1 controls (ESC [, CSI,
# OSC...), and bidi overrides that reorder what follows. Stored text, file names and model output pass through
# ``safe`` before they are printed.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def safe(text: object) -> str:
    """Text that prints as itself: each control or bidi character becomes a visible escape such as ``\\x1b``."""
    return _UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}",
                       str(text))


def escape(text: object) -> str:
    """Stored text for a Rich console: no control sequence reaches the terminal and no [markup] is interpreted."""
    return markup_escape(safe(text))


# No emoji codes: "corpus.jsonl:100: ..." must not become "corpus.jsonl💯 ...".
out = Console(highlight=False, soft_wrap=True, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)
ERRORS_PER_FILE = 5


@dataclass
class Context:
    db: str
    json: bool = False
    config: str | None = None  # --config FILE


_JSON_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _emit_json(data: Any) -> None:
    """JSON on stdout; C1 controls and bidi overrides are written as \\u escapes (json.dumps escapes C0 ones)."""
    text = json.dumps(data, ensure_ascii=False, indent=2, default=str)
    click.echo(_JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text))


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")(f)


def db_option(f: F) -> F:
    """``--db`` on every command as well as on the group, so it can go after the command name."""
    return click.option("--db", "db_path", metavar="FILE", default=None,
                        help="Database file (default: $KG_DB, else ./kg.db).")(f)


class UserError(click.ClickException):
    """A one-line error whose text is safe to print (file names and stored text may hold control characters)."""

    def __init__(self, message: str):
        super().__init__(safe(message))


def user_errors(f: F) -> F:
    """Turn a user-facing error (KGError, a store that is read-only, damaged or not a kg store) into one line
    and exit code 1 instead of a traceback."""
    @wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from kg.api import KGError, default_db
        from store.db import StoreError, store_error

        try:
            return f(*args, **kwargs)
        except (KGError, StoreError) as e:
            raise UserError(str(e)) from None
        except Exception as e:
            ctx = click.get_current_context(silent=True)
            obj = ctx.find_object(Context) if ctx else None
            mapped = store_error(e, kwargs.get("db_path") or (obj.db if obj else default_db()))
            if mapped is None:
                raise
            raise UserError(str(mapped)) from None
    return wrapper  # type: ignore[return-value]


def _waiting(path: str) -> Callable[[], None]:
    return lambda: err.print(f"[yellow]waiting[/yellow] for another kg command that is writing to {escape(path)} "
                             "to finish (Ctrl-C to stop)")


def _config(ctx: click.Context | None = None, db_path: str | None = None) -> KGConfig:
    """The configuration: defaults, --config FILE (else $KG_CONFIG, else kg.toml beside the store), environment."""
    from kg.api import KGConfig

    obj = (ctx or click.get_current_context()).find_object(Context)
    return KGConfig.load(obj.config if obj else None, db_path or (obj.db if obj else None))


@contextmanager
def open_graph(ctx: click.Context, db_path: str | None, config: KGConfig | None = None,
               must_exist: bool = True) -> Iterator[KnowledgeGraph]:
    """The store named by --db (or $KG_DB, ./kg.db); a command that only reads needs it to exist already."""
    from kg.api import KnowledgeGraph

    path = db_path or ctx.find_object(Context).db  # type: ignore[union-attr]
    if must_exist and not Path(path).exists():
        raise UserError(f"database {path} does not exist. Build one first: kg ingest PATH --db {path}")
    g = KnowledgeGraph(path, config or _config(ctx, path))
    g.on_wait = _waiting(path)
    try:
        yield g
    finally:
        g.close()


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option("--db", "db_path", metavar="FILE", default=None, help="Database file (default: $KG_DB, else ./kg.db).")
@click.option("--config", "config_path", metavar="FILE", default=None,
              help="Settings file (TOML; default: $KG_CONFIG, else kg.toml beside the database).")
@click.version_option(package_name="kg-rag")
@click.pass_context
def cli(ctx: click.Context, db_path: str | None, config_path: str | None) -> None:
    """Build a knowledge graph from documents and inspect it.

    Example:

        kg ingest docs/ && kg entities --top 10 && kg entity "Marie Curie"
    """
    ctx.obj = Context(db=db_path or os.environ.get("KG_DB") or "kg.db", config=config_path)


# -- building -------------------------------------------------------------------------------------------------
@cli.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@db_option
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--chunk-size", type=click.IntRange(min=50), default=None, help="Characters per chunk (default 1200).")
@click.option("--chunk-overlap", type=click.IntRange(min=0), default=None, help="Overlap between chunks (default 150).")
@click.option("--no-parser", is_flag=True, help="Skip the dependency parser: faster, predicates become related_to.")
@click.option("--processes", type=click.IntRange(min=1), default=None,
              help="spaCy worker processes (default: one per core, at most four).")
@click.option("--dense", is_flag=True, help="Also embed chunks for the dense channel (kept current from then on).")
@click.option("--sync", "sync", is_flag=True,
              help="Make the store match one folder: add new files, replace changed ones, delete vanished ones.")
@click.option("--dry-run", is_flag=True, help="With --sync: print the plan and change nothing.")
@click.option("--follow-links", is_flag=True,
              help="Also follow links inside a folder that lead out of it (skipped and reported by default).")
@json_option
@click.pass_context
@user_errors
def ingest(ctx: click.Context, paths: tuple[str, ...], db_path: str | None, quiet: bool, chunk_size: int | None,
           chunk_overlap: int | None, no_parser: bool, processes: int | None, dense: bool, sync: bool,
           dry_run: bool, follow_links: bool, as_json: bool) -> None:
    """Ingest files and folders (.txt .md .html .pdf .jsonl, recursively).

    Unchanged documents are skipped; a changed file replaces its old version in one transaction. With --sync,
    documents whose files have left the folder are deleted too. Exit code 1 if any file failed.

    Example:

        kg ingest notes/ papers/report.pdf corpus.jsonl --db kg.db
        kg ingest --sync notes/ --dry-run
    """
    if dry_run and not sync:
        raise click.UsageError("--dry-run goes with --sync: kg ingest --sync FOLDER --dry-run")
    if sync and len(paths) != 1:
        raise click.UsageError("--sync takes exactly one folder: kg ingest --sync FOLDER")
    if sync and not Path(paths[0]).is_dir():
        why = "no such folder" if not Path(paths[0]).exists() else "not a folder; --sync makes the store match a folder"
        raise click.BadParameter(f"{safe(paths[0])}: {why}", param_hint="FOLDER")
    config = _config(None, db_path)
    try:
        size = chunk_size or config.chunk.size
        # Without an explicit overlap, a small chunk size gets a proportionate one rather than an error.
        overlap = min(config.chunk.overlap, size // 4) if chunk_overlap is None else chunk_overlap
        from kg.chunking import ChunkConfig

        config.chunk = ChunkConfig(size, overlap)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--chunk-size/--chunk-overlap") from None
    if no_parser:
        config.extract.parser = False
    if processes is not None:
        config.extract.n_process = processes
    if dense:
        config.retrieve.dense = True
    plan = None
    with open_graph(ctx, db_path, config, must_exist=False) as g:
        if sync:
            plan = g.sync_plan(paths[0], follow_links=follow_links)
            if dry_run:
                _emit_json(plan.to_dict()) if as_json else _print_plan(plan)
                return
            if not quiet and not as_json:
                _print_plan(plan, brief=True)
        report = _ingest_with_progress(g, list(paths), show=not quiet and not as_json,
                                       plan=plan, follow_links=follow_links)
    if as_json:
        _emit_json(report.to_dict())
    else:
        _print_ingest(report, str(g.path))
        _print_dissolved(report.dissolved_merges)
    _print_errors(report.errors)
    _print_errors(report.warnings, "warning")
    if report.errors:
        ctx.exit(1)


def _print_errors(failures: list[FileError], kind: str = "error") -> None:
    """One line per failure (or warning), at most a few per file (``--json`` lists them all)."""
    label = "[red]error[/red]" if kind == "error" else "[yellow]warning[/yellow]"
    per_file: dict[str, int] = {}
    for failure in failures:
        path = failure.where.rsplit(":", 1)[0] if failure.where.rsplit(":", 1)[-1].isdigit() else failure.where
        per_file[path] = per_file.get(path, 0) + 1
        if per_file[path] <= ERRORS_PER_FILE:
            err.print(f"{label} {escape(str(failure))}")
    for path, n in per_file.items():
        if n > ERRORS_PER_FILE:
            err.print(f"{label} {escape(path)}: {n - ERRORS_PER_FILE} more {kind}s (see --json)")


def _print_dissolved(merges: list[dict[str, Any]]) -> None:
    """Say which user merges a command ended: one side no longer has any mention."""
    for m in merges:
        err.print(f"[yellow]note[/yellow] your merge of id:{m['merged_id']} {escape(m['merged'])} into "
                  f"id:{m['kept_id']} {escape(m['kept'])} was dissolved: one side has no mentions any more")


def _print_plan(plan: SyncPlan, brief: bool = False) -> None:
    out.print(f"[bold]sync plan[/bold]: {len(plan.add)} to add, {len(plan.replace)} to replace, "
              f"{len(plan.delete)} to delete, {plan.unchanged} unchanged, {len(plan.errors)} unreadable")
    if brief:
        return
    for mark, sources in (("+", plan.add), ("~", plan.replace), ("-", plan.delete)):
        for src in sources:
            out.print(f"  {mark} {escape(src)}")
    for failure in plan.errors:
        out.print(f"  [red]![/red] {escape(str(failure))}")
    for warning in plan.warnings:
        out.print(f"  [yellow]?[/yellow] {escape(str(warning))}")


def _ingest_with_progress(g: KnowledgeGraph, paths: list[str], show: bool,
                          plan: SyncPlan | None = None, follow_links: bool = False) -> IngestReport:
    """Ingest, or with a sync plan make the store match its folder, with a progress bar when shown."""
    run = (lambda **kw: g.sync(paths[0], plan=plan, follow_links=follow_links, **kw)) if plan is not None else (
        lambda **kw: g.ingest(paths, follow_links=follow_links, **kw))
    if not show:
        return run()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = [TextColumn("[bold]ingest"), BarColumn(), MofNCompleteColumn(), TextColumn("docs"),
               TextColumn("{task.fields[rates]}"), TimeElapsedColumn()]
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("ingest", total=None, rates="")

        def on_progress(docs: int, chunks: int) -> None:
            elapsed = bar.tasks[0].elapsed or 1e-9
            bar.update(task, completed=docs, rates=f"{docs / elapsed:.1f} docs/s  {chunks / elapsed:.1f} chunks/s")

        return run(progress=on_progress, on_total=lambda n: bar.update(task, total=n))


def _print_ingest(r: IngestReport, path: str) -> None:
    t = Table(title=f"Ingested into {escape(path)}", show_header=False, title_justify="left")
    for k, v in [("documents", r.documents), ("replaced", r.replaced), ("skipped (unchanged)", r.skipped),
                 ("failed", len(r.errors)), ("chunks", r.chunks), ("mentions", r.mentions),
                 ("new entities", r.entities), ("new relations", r.relations),
                 ("re-linked documents", r.relinked), ("deleted (sync)", r.deleted), ("time", f"{r.seconds:.1f} s")]:
        t.add_row(k, str(v))
    out.print(t)


@cli.command()
@click.argument("documents", nargs=-1, required=True, metavar="DOC...")
@db_option
@click.option("--dry-run", is_flag=True, help="List the documents that would go and change nothing.")
@click.option("--yes", "-y", is_flag=True, help="Delete several documents without showing them and asking first.")
@json_option
@click.pass_context
@user_errors
def delete(ctx: click.Context, documents: tuple[str, ...], db_path: str | None, dry_run: bool, yes: bool,
           as_json: bool) -> None:
    """Delete documents by id (N or id:N), source path, folder or glob, with everything only they contributed.

    Paths and globs are relative to the current folder, as in a shell, and * never crosses a /: 'notes/*.md'
    is the Markdown files directly in notes/, 'notes/**/*.md' those at any depth. When more than one document
    matches, they are listed and the command asks before deleting (--yes skips the question). Entities,
    aliases and relations nothing else supports go too, and links other documents had only because of these
    are redone: the graph equals one built without them. If any DOC matches nothing, nothing is deleted
    (exit code 1).

    Example:

        kg delete notes/old.md 'papers/2019-*.pdf' id:42
    """
    with open_graph(ctx, db_path) as g:
        if dry_run or (not yes and not as_json):
            chosen = g.find_documents(documents)
        if dry_run:
            if as_json:
                _emit_json([d.to_dict() for d in chosen])
            else:
                _print_doomed(chosen, "would delete")
            return
        if not yes and not as_json and len(chosen) > 1:
            _print_doomed(chosen, "will delete")
            try:
                agreed = click.confirm(f"Delete these {len(chosen)} documents?", err=True)
            except click.exceptions.Abort as e:  # no answer (stdin closed), or Ctrl-C
                if isinstance(e.__context__, KeyboardInterrupt):
                    raise KeyboardInterrupt from None
                agreed = False
            if not agreed:
                raise UserError(f"{len(chosen)} documents match; nothing was deleted. Check the list, then answer "
                                "y, or run again with --yes")
        report = g.delete(documents)
    if as_json:
        _emit_json(report.to_dict())
        return
    t = Table(title=f"Deleted from {escape(g.path)}", show_header=False, title_justify="left")
    for k, v in [("documents", len(report.documents)), ("chunks", report.chunks), ("mentions", report.mentions),
                 ("entities removed", report.entities), ("relations removed", report.relations),
                 ("re-linked documents", report.relinked), ("time", f"{report.seconds:.2f} s")]:
        t.add_row(k, str(v))
    out.print(t)
    _print_dissolved(report.dissolved_merges)


def _print_doomed(chosen: list[Any], what: str) -> None:
    out.print(f"[bold]{what}[/bold] {len(chosen)} documents")
    for d in chosen:
        out.print(f"  - id:{d.id} {escape(d.source)}")


@cli.group()
def kb() -> None:
    """Knowledge-base seeding.

    Example:

        kg kb import wikidata_subset.jsonl --db kg.db
    """


@kb.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@db_option
@json_option
@click.pass_context
@user_errors
def kb_import(ctx: click.Context, file: str, db_path: str | None, as_json: bool) -> None:
    """Seed entities from JSONL lines {id, name, aliases, description, type}; linking then prefers them.

    Example:

        kg kb import wikidata_subset.jsonl
    """
    if not Path(file).is_file():
        raise UserError(f"{file}: cannot read knowledge base (no such file)")
    with open_graph(ctx, db_path, must_exist=False) as g:
        report = g.import_kb(file)
    if as_json:
        _emit_json(report.to_dict())
    else:
        out.print(f"knowledge base: {report.created} entities created, {report.updated} updated")
    _print_errors(report.errors)
    if report.errors:
        ctx.exit(1)


# -- inspection -----------------------------------------------------------------------------------------------
@cli.command()
@db_option
@json_option
@click.pass_context
@user_errors
def stats(ctx: click.Context, db_path: str | None, as_json: bool) -> None:
    """Counts of everything in the graph.

    Example:

        kg stats --db kg.db
    """
    with open_graph(ctx, db_path) as g:
        s = g.stats()
    if as_json:
        _emit_json(s.to_dict())
        return
    t = Table(title=escape(s.path), show_header=False, title_justify="left")
    for k, v in s.to_dict().items():
        if k != "path":
            t.add_row(k, str(v))
    out.print(t)


@cli.command()
@db_option
@json_option
@click.pass_context
@user_errors
def docs(ctx: click.Context, db_path: str | None, as_json: bool) -> None:
    """List the ingested documents, each with the source that kg delete takes (relative to the current folder
    when it lies inside it), never shortened.

    Example:

        kg docs --json
    """
    with open_graph(ctx, db_path) as g:
        rows = g.documents()
    if as_json:
        _emit_json([d.to_dict() for d in rows])
        return
    if not rows:
        out.print("No documents.")
        return
    width = len(str(rows[-1].id)) + 3
    for d in rows:
        about = f" · about {escape(d.about)}" if d.about else ""
        out.print(f"[bold]{f'id:{d.id}':<{width}}[/bold] {escape(d.title)}  [dim]{d.chars:,} chars · {d.chunks} "
                  f"chunks · {d.mentions} mentions{about}[/dim]")
        out.print(" " * (width + 1) + escape(_shown_source(d.source)), overflow="ignore", crop=False)


def _shown_source(source: str) -> str:
    """A stored source as a user would type it here: relative to the current folder when inside it."""
    file, sep, record = source.partition("#")
    try:
        rel = os.path.relpath(file)
    except ValueError:
        return source
    return (rel if not rel.startswith("..") else file) + sep + record


@cli.command()
@click.option("--type", "type_", metavar="T", default=None, help="Only this type, e.g. PERSON, ORG, GPE.")
@click.option("--top", type=click.IntRange(min=1), default=None, help="Only the N most mentioned.")
@db_option
@json_option
@click.pass_context
@user_errors
def entities(ctx: click.Context, type_: str | None, top: int | None, db_path: str | None, as_json: bool) -> None:
    """List entities, most mentioned first.

    Example:

        kg entities --type PERSON --top 20
    """
    with open_graph(ctx, db_path) as g:
        rows = g.entities(type_, top)
    if as_json:
        _emit_json([e.to_dict() for e in rows])
        return
    t = Table("id", "name", "type", "mentions", "docs", "kb")
    for e in rows:
        t.add_row(str(e.id), escape(e.name), escape(e.type), str(e.mentions), str(e.documents), escape(e.kb_id or ""))
    out.print(t)


@cli.command()
@click.argument("name")
@click.option("--mentions", "n_mentions", type=click.IntRange(min=0), default=5, help="Mention snippets to show.")
@db_option
@json_option
@click.pass_context
@user_errors
def entity(ctx: click.Context, name: str, n_mentions: int, db_path: str | None, as_json: bool) -> None:
    """One entity's card: aliases, type, mentions, relations with evidence, documents.

    NAME is a name, an alias, or id:N.

    Example:

        kg entity "Marie Curie"
    """
    with open_graph(ctx, db_path) as g:
        card = g.entity(name, mentions=n_mentions)
    if as_json:
        _emit_json(card.to_dict())
    else:
        print_card(card)


def _flat(text: str) -> str:
    return " ".join(text.split())


def print_card(card: EntityCard, relations: int = 12) -> None:
    kb = f"  kb:{escape(card.kb_id)}" if card.kb_id else ""
    out.print(f"[bold]{escape(card.name)}[/bold]  ({escape(card.type)})  id:{card.id}{kb}  "
              f"{card.mention_count} mentions")
    if card.description:
        out.print(f"  {escape(card.description)}")
    if card.aliases:
        out.print("[bold]aliases[/bold]  " + ", ".join(escape(a.alias) for a in card.aliases))
    if card.same_name:
        others = ", ".join(f"id:{e.id} {escape(e.name)} ({escape(e.type)})" for e in card.same_name)
        out.print(f"[bold]also named so[/bold]  {others}")
    if card.fused:
        out.print("[bold]fused across documents[/bold]  (undo one with: kg unfuse NAME)")
        for f in card.fused:
            out.print(f"  {escape(f.name)} ({f.documents} document{'s' if f.documents != 1 else ''}): "
                      f"{escape(f.why)}")
    if card.mentions:
        out.print("[bold]mentions[/bold]")
        for m in card.mentions:
            out.print(f"  {escape(m.document)}: {escape(_flat(m.snippet))}")
    if card.relations:
        out.print(f"[bold]relations[/bold] ({len(card.relations)})")
        for r in card.relations[:relations]:
            out.print(f"  {escape(r.head)} —{escape(r.predicate)}→ {escape(r.tail)}  (weight {r.weight:g})")
            for ev in r.evidence[:1]:
                out.print(f"      “{escape(_flat(ev.sentence))}”  [dim]{escape(ev.document)}[/dim]")
        if len(card.relations) > relations:
            out.print(f"  … {len(card.relations) - relations} more (use --json for all)")
    if card.documents:
        out.print("[bold]documents[/bold]  " + ", ".join(f"{escape(d['title'])} ({d['mentions']})"
                                                        for d in card.documents))


@cli.command()
@click.argument("name")
@click.option("--hops", type=click.IntRange(min=1, max=5), default=1, show_default=True, help="Relation hops.")
@db_option
@json_option
@click.pass_context
@user_errors
def neighbors(ctx: click.Context, name: str, hops: int, db_path: str | None, as_json: bool) -> None:
    """Entities within N relation hops of NAME.

    Example:

        kg neighbors "Pierre Curie" --hops 2
    """
    with open_graph(ctx, db_path) as g:
        hood = g.neighbors(name, hops)
    if as_json:
        _emit_json(hood.to_dict())
    else:
        _print_neighbors(hood)


def _print_neighbors(h: Neighborhood) -> None:
    t = Table("hops", "id", "name", "type", "via", title_justify="left",
              title=f"{escape(h.entity.name)} ({escape(h.entity.type)}), {h.hops} hop(s)")
    for n in h.neighbors:
        t.add_row(str(n.hops), str(n.id), escape(n.name), escape(n.type), escape(n.via))
    out.print(t)


@cli.command()
@click.argument("query")
@click.option("-k", "k", type=click.IntRange(min=1, max=200), default=8, show_default=True, help="Results to show.")
@click.option("--mode", type=click.Choice(MODES), default="hybrid", show_default=True,
              help="sparse: word pieces and entity dimensions; graph: PageRank from the query's entities; "
                   "dense: embeddings; hybrid: fused.")
@click.option("--no-entities", is_flag=True, help="Leave the entity dimensions out of the sparse channel.")
@click.option("--dense/--no-dense", "dense", default=None, help="Add or leave out the dense channel in hybrid mode.")
@click.option("--fusion", type=click.Choice(FUSIONS), default=None, help="How hybrid mode fuses (default weighted).")
@click.option("--explain", is_flag=True, help="Show matched word pieces and entities, and the graph path.")
@db_option
@json_option
@click.pass_context
@user_errors
def search(ctx: click.Context, query: str, k: int, mode: str, no_entities: bool, dense: bool | None,
           fusion: str | None, explain: bool, db_path: str | None, as_json: bool) -> None:
    """Rank chunks for a question, with each result's score breakdown.

    Example:

        kg search "Where did Marie Curie study?" -k 5 --explain
    """
    if not query.strip():
        raise click.UsageError("the query is empty: kg search \"QUESTION\"")
    config = _config(None, db_path)
    if fusion:
        config.retrieve.fusion = fusion
    with open_graph(ctx, db_path, config) as g:
        report = g.search_report(query, k, mode, entities=not no_entities, dense=dense)
    if as_json:
        _emit_json({"query": query, "mode": mode, "seconds": round(report.seconds, 4),
                    "unindexed_chunks": report.unindexed,
                    "query_entities": [asdict(q) for q in report.query_entities],
                    "results": [r.to_dict() for r in report.results]})
        return
    _print_unindexed(report.unindexed)
    if report.query_entities:
        ents = ", ".join(f"{escape(q.name)} ({q.how}, {q.weight:.2f})" for q in report.query_entities[:8])
        out.print(f"[dim]query entities:[/dim] {ents}")
    if not report.results:
        out.print("No results.")
        return
    for r in report.results:
        parts = "  ".join(f"{c} {v:.2f}" for c, v in r.scores.items())
        out.print(f"[bold]{r.rank}.[/bold] {escape(r.title)} [dim]#{r.ord} chunk {r.chunk_id}[/dim]  "
                  f"score [bold]{r.score:.3f}[/bold]  [dim]{parts}[/dim]")
        out.print("   " + escape(_flat(r.text)[:300]) + ("…" if len(r.text) > 300 else ""))
        if explain:
            words = [m for m in r.matches if m.kind == "word"][:10]
            matched = [m for m in r.matches if m.kind == "entity"]
            if words:
                out.print("   [dim]word pieces:[/dim] " + ", ".join(f"{escape(m.label)} {m.contribution:.2f}"
                                                                    for m in words))
            if matched:
                out.print("   [dim]entities:[/dim] " + ", ".join(f"{escape(m.label)} {m.contribution:.2f}"
                                                                 for m in matched))
            if r.path:
                out.print("   [dim]graph path:[/dim] " + " → ".join(escape(p.label) for p in r.path))
    out.print(f"[dim]{len(report.results)} results in {report.seconds * 1000:.0f} ms[/dim]")


def _print_unindexed(n: int) -> None:
    if n:
        err.print(f"[yellow]note[/yellow] {n} chunks have no search vectors yet, so only the graph finds them; "
                  "encode them with: kg index")


@cli.command()
@click.argument("question")
@click.option("--llm", metavar="NAME", default=None,
              help="Chat model: local (SmolLM2-135M, offline), llamacpp:FILE.gguf, or PROVIDER:MODEL such as "
                   "openai:gpt-4o-mini or ollama:llama3.1 (default: $KG_LLM, else local).")
@click.option("-k", type=click.IntRange(min=1), default=8, show_default=True, help="Chunks to retrieve.")
@click.option("--mode", type=click.Choice(MODES), default="hybrid", show_default=True, help="Retrieval mode.")
@click.option("--no-llm", is_flag=True, help="No generation: answer with the best evidence sentences, cited.")
@click.option("--context-tokens", type=click.IntRange(min=64), default=None,
              help="Token budget for sources and graph facts (default 2048).")
@click.option("--max-tokens", type=click.IntRange(min=1), default=None, help="Longest answer, in tokens (default 256).")
@db_option
@json_option
@click.pass_context
@user_errors
def ask(ctx: click.Context, question: str, llm: str | None, k: int, mode: str, no_llm: bool,
        context_tokens: int | None, max_tokens: int | None, db_path: str | None, as_json: bool) -> None:
    """Answer a question from the graph with [n] citations, streaming the answer.

    Example:

        kg ask "Who founded the institute where Irène Joliot-Curie worked?"

        kg ask "Where did Marie Curie study?" --llm openai:gpt-4o-mini

        kg ask "Where did Marie Curie study?" --no-llm
    """
    if not question.strip():
        raise click.UsageError("the question is empty: kg ask \"QUESTION\"")
    config = _config(None, db_path)
    if context_tokens:
        config.answer.context_tokens = context_tokens
    if max_tokens:
        config.llm.max_tokens = max_tokens
    # The default model falls back to an extractive answer when it cannot load; a model asked for by name fails.
    fallback = not llm and not os.environ.get("KG_LLM")
    streamed: list[str] = []

    def on_token(piece: str) -> None:  # model output is untrusted text too: no control sequences
        streamed.append(piece)
        sys.stdout.write(safe(piece))
        sys.stdout.flush()

    with open_graph(ctx, db_path, config) as g:
        a = g.ask(question, k, mode, llm=llm, extractive=no_llm, fallback=fallback,
                  on_token=None if as_json else on_token)
    if as_json:
        _emit_json(a.to_dict())
        return
    if streamed:
        sys.stdout.write("\n")
    elif not a.text:
        out.print("No answer: nothing relevant was retrieved." if not a.results else "No answer.")
    if a.fallback:
        err.print(f"[yellow]note:[/yellow] no LLM ({escape(a.fallback)}); this is the extractive answer")
    if a.invalid_citations:
        err.print(f"[yellow]note:[/yellow] the answer cites {', '.join(f'[{n}]' for n in a.invalid_citations)}, "
                  "which is not a source")
    _print_sources(a)


def _print_sources(a: Answer) -> None:
    if not a.sources:
        return
    cited = {c.n for c in a.citations}
    out.print("\n[bold]Sources[/bold]")
    for s in a.sources:
        where = f"{_shown_source(s.source)} #{s.chunk_id}" if s.source else f"chunk {s.chunk_id}"
        what = "evidence sentence, " if s.kind == "evidence" else ""
        score = f"score {s.score:.3f}" if s.kind == "chunk" else "graph fact"
        line = f"[{s.n}] {escape(s.title)}  [dim]{escape(where)} ({what}{score}{', cut' if s.truncated else ''})[/dim]"
        out.print(f"[bold]{line}[/bold]" if s.n in cited else line)
    for f in a.facts:
        out.print(f"[dim]fact: {escape(f.head)} —{escape(f.predicate)}→ {escape(f.tail)} [{f.source}][/dim]")
    u = a.usage
    tokens = "" if u.counted_by == "none" else f" · {u.input_tokens:,} tokens in, {u.output_tokens:,} out"
    if u.counted_by == "estimate":
        tokens += " (estimated)"
    out.print(f"[dim]{escape(a.llm)}{tokens} · {u.seconds:.2f} s (retrieval {u.retrieval_seconds:.2f} s)[/dim]")


@cli.command()
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS, case_sensitive=False), default="graphml",
              show_default=True)
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False), help="File to write.")
@db_option
@json_option
@click.pass_context
@user_errors
def export(ctx: click.Context, fmt: str, out_path: str, db_path: str | None, as_json: bool) -> None:
    """Export the entity graph for Gephi (gexf), Cytoscape or graphology (graphml), networkx (json), a
    spreadsheet (csv: OUT.nodes.csv and OUT.edges.csv) or Neo4j and Memgraph (cypher).

    Example:

        kg export --format gexf --out graph.gexf
    """
    with open_graph(ctx, db_path) as g:
        info = g.export(out_path, fmt)
    if as_json:
        _emit_json(info.to_dict())
    else:
        out.print(f"wrote {escape(', '.join(info.files))} ({info.format}): {info.nodes} entities, "
                  f"{info.edges} relations")


# -- curation -------------------------------------------------------------------------------------------------
def _print_merge(m: MergeInfo) -> None:
    if m.action == "merge":
        out.print(f"merged id:{m.merged.id} {escape(m.merged.name)} ({escape(m.merged.type)}) into "
                  f"id:{m.kept.id} {escape(m.kept.name)} ({escape(m.kept.type)}): {m.mentions_moved} mentions, "
                  f"{m.aliases_moved} aliases moved. Undo with: kg unmerge id:{m.merged.id}")
    else:
        out.print(f"split id:{m.merged.id} {escape(m.merged.name)} ({escape(m.merged.type)}) back out of "
                  f"id:{m.kept.id} {escape(m.kept.name)}: {m.mentions_moved} mentions, "
                  f"{m.aliases_moved} aliases restored")


@cli.command()
@click.argument("keep")
@click.argument("other")
@db_option
@json_option
@click.pass_context
@user_errors
def merge(ctx: click.Context, keep: str, other: str, db_path: str | None, as_json: bool) -> None:
    """Merge entity OTHER into KEEP (recorded in the merge log; undo with unmerge).

    Example:

        kg merge "Marie Curie" "Maria Skłodowska"
    """
    with open_graph(ctx, db_path) as g:
        info = g.merge(keep, other)
    _emit_json(info.to_dict()) if as_json else _print_merge(info)


@cli.command()
@click.argument("name")
@db_option
@json_option
@click.pass_context
@user_errors
def unmerge(ctx: click.Context, name: str, db_path: str | None, as_json: bool) -> None:
    """Undo the latest merge involving an entity.

    Example:

        kg unmerge "Maria Skłodowska"
    """
    with open_graph(ctx, db_path) as g:
        info = g.unmerge(name)
    _emit_json(info.to_dict()) if as_json else _print_merge(info)


@cli.command("merges")
@db_option
@json_option
@click.pass_context
@user_errors
def merges(ctx: click.Context, db_path: str | None, as_json: bool) -> None:
    """The merge log, newest first.

    Example:

        kg merges
    """
    with open_graph(ctx, db_path) as g:
        rows = g.merge_log()
    if as_json:
        _emit_json(rows)
        return
    t = Table("log", "action", "kept", "merged", "when", "undone")
    for r in rows:
        t.add_row(str(r["id"]), str(r["action"]), escape(str(r["kept"])), escape(str(r["merged"])), str(r["at"]),
                  str(r["undone"]))
    out.print(t)


@cli.command("fusions")
@db_option
@json_option
@click.pass_context
@user_errors
def fusions(ctx: click.Context, db_path: str | None, as_json: bool) -> None:
    """Names fused across documents into a longer one ("Joliot" into "Frédéric Joliot-Curie", "U.S." into
    "United States"), each with why, and the fusions undone with unfuse.

    Example:

        kg fusions
    """
    with open_graph(ctx, db_path) as g:
        found = g.fusions()
    if as_json:
        _emit_json({"fused": [f.to_dict() for f in found["fused"]], "undone": found["undone"]})
        return
    t = Table("name", "into", "rule", "documents", "weighed")
    for f in found["fused"]:
        t.add_row(escape(f.name), escape(f.into), f.rule, str(f.documents), str(f.candidates))
    out.print(t)
    if found["undone"]:
        out.print("[bold]undone[/bold]  " + ", ".join(f"{escape(u['name'])} → {escape(u['into'])}"
                                                     for u in found["undone"]))


@cli.command()
@click.option("--llm", metavar="NAME", default=None,
              help="The judge: local, llamacpp:FILE.gguf or PROVIDER:MODEL (default $KG_LLM, else local).")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="Names to ask about.")
@click.option("--dry-run", is_flag=True, help="Ask and show the answers, change nothing.")
@db_option
@json_option
@click.pass_context
@user_errors
def fuse(ctx: click.Context, llm: str | None, limit: int, dry_run: bool, db_path: str | None, as_json: bool) -> None:
    """Let an LLM judge the names fusion left apart though longer names of their type hold them ("Einstein"
    beside "Albert Einstein" and "Alfred Einstein"), and fold the ones it places. Off by default and never needed;
    each fold is in the merge log and undone with unfuse.

    Example:

        kg fuse --llm openai:gpt-4o-mini --limit 20 --dry-run
    """
    with open_graph(ctx, db_path) as g:
        decisions = g.fuse(llm, limit=limit, dry_run=dry_run)
    if as_json:
        _emit_json([d.to_dict() for d in decisions])
        return
    t = Table("name", "options", "judged", "folded")
    for d in decisions:
        t.add_row(escape(d.name), escape(", ".join(d.options)), escape(d.choice or "apart"),
                  "yes" if d.folded else "no")
    out.print(t)
    folded = sum(d.folded for d in decisions)
    out.print(f"{len(decisions)} name{'s' if len(decisions) != 1 else ''} judged, {folded} folded"
              + (" (dry run: nothing changed)" if dry_run else ""))


@cli.command()
@click.argument("name")
@click.option("--allow", is_flag=True, help="Lift an earlier unfuse of NAME, so that fusion decides again.")
@db_option
@json_option
@click.pass_context
@user_errors
def unfuse(ctx: click.Context, name: str, allow: bool, db_path: str | None, as_json: bool) -> None:
    """Undo the fusion of NAME into a longer name, for good: later documents do not redo it (recorded in the
    merge log; lift it with --allow).

    Example:

        kg unfuse "Joliot-Curie"
    """
    with open_graph(ctx, db_path) as g:
        info = g.unfuse(name, allow=allow)
    if as_json:
        _emit_json(info)
    elif allow:
        out.print(f"fusion of {escape(str(info['name']))} may happen again")
    else:
        out.print(f"{escape(str(info['name']))} is its own entity again; it stays apart from "
                  f"{escape(', '.join(str(t) for t in info['into']))}")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback by default).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Port to listen on.")
@click.option("--read-only", is_flag=True, help="Refuse every write (ingest, delete, merge) with 403.")
@click.option("--token", metavar="T", default=None, envvar="KG_TOKEN",
              help="Require 'Authorization: Bearer T' on every API call ($KG_TOKEN).")
@click.option("--no-auth", is_flag=True, help="Serve another address than loopback without a token.")
@click.option("--llm", metavar="NAME", default=None,
              help="The answers' default chat model (default $KG_LLM, else local).")
@db_option
@click.pass_context
@user_errors
def serve(ctx: click.Context, host: str, port: int, read_only: bool, token: str | None, no_auth: bool,
          llm: str | None, db_path: str | None) -> None:
    """Serve the graph over HTTP: a JSON API (docs at /docs) and a web explorer at /.

    Models and the index load once at start-up; GET /api/health says when they are ready. Binding any address
    other than loopback needs --token (or an explicit --no-auth).

    Example:

        kg serve --db kg.db --port 8000 && open http://127.0.0.1:8000/
    """
    from kg.serve import LOOPBACK
    from kg.serve import serve as run_service

    if host not in LOOPBACK and not token and not no_auth:
        raise click.UsageError(f"--host {host} is reachable from other machines: give --token T (or --no-auth)")
    if token is not None and not token.strip():
        raise click.BadParameter("the token is empty", param_hint="--token")
    with open_graph(ctx, db_path, must_exist=read_only) as g:
        shown = f"[{host}]" if ":" in host else host
        out.print(f"kg explorer on http://{shown}:{port}/  (API docs: /docs; Ctrl-C stops it)")
        run_service(g, host, port, read_only=read_only, token=token, llm=llm)


@cli.group("config")
def config_group() -> None:
    """The effective configuration, and where each value comes from.

    Example:

        kg config show --db kg.db
    """


@config_group.command("show")
@db_option
@json_option
@click.pass_context
@user_errors
def config_show(ctx: click.Context, db_path: str | None, as_json: bool) -> None:
    """Every setting with its value and its source: the default, the TOML file (--config FILE, $KG_CONFIG, or
    kg.toml beside the database), or an environment variable (KG_SECTION__FIELD).

    Example:

        KG_RETRIEVE__GRAPH__DAMPING=0.85 kg config show --config kg.toml
    """
    from kg.settings import SettingsError, effective, load

    obj = ctx.find_object(Context)
    try:
        cfg, sources = load(obj.config if obj else None, db_path or (obj.db if obj else None))
    except SettingsError as e:
        raise UserError(str(e)) from None
    settings = effective(cfg, sources)
    if as_json:
        _emit_json(settings)
        return
    t = Table("setting", "value", "from")
    for s in settings:
        shown = s["value"] if isinstance(s["value"], str) else json.dumps(s["value"], ensure_ascii=False)
        t.add_row(escape(s["setting"]), escape(" ".join(str(shown).split())[:80]), escape(s["from"]))
    out.print(t)


# -- the store itself -----------------------------------------------------------------------------------------
@cli.group("db")
def db_group() -> None:
    """The store's schema: which version it has, and upgrading it (thin shells over Alembic).

    Example:

        kg db current --db kg.db && kg db upgrade --db kg.db
    """


@db_group.command("current")
@db_option
@json_option
@click.pass_context
@user_errors
def db_current(ctx: click.Context, db_path: str | None, as_json: bool) -> None:
    """The store's schema revision, and whether this kg reads it as it is.

    Example:

        kg db current --db kg.db
    """
    from store.db import SCHEMA_HEAD

    with open_graph(ctx, db_path) as g:
        version = g.schema_version()
    if as_json:
        _emit_json({"path": str(g.path), "revision": version, "head": SCHEMA_HEAD, "current": version == SCHEMA_HEAD})
    else:
        state = "up to date" if version == SCHEMA_HEAD else f"needs kg db upgrade to {SCHEMA_HEAD}"
        out.print(f"{escape(g.path)}: schema {version} ({state})")


@db_group.command("upgrade")
@db_option
@json_option
@click.pass_context
@user_errors
def db_upgrade(ctx: click.Context, db_path: str | None, as_json: bool) -> None:
    """Create the store, or migrate it to this version's schema (ingest and kb import do it too).

    Example:

        kg db upgrade --db kg.db
    """
    with open_graph(ctx, db_path, must_exist=False) as g:
        before, after = g.upgrade()
    if as_json:
        _emit_json({"path": str(g.path), "before": before, "after": after})
    elif before == after:
        out.print(f"{escape(g.path)}: schema {after}, already up to date")
    else:
        out.print(f"{escape(g.path)}: schema {before or '(new store)'} -> {after}")


@cli.command("index")
@db_option
@click.option("--dense", is_flag=True, help="Also embed every chunk for the dense channel (kept current from then on).")
@click.option("--compact", is_flag=True, help="Rewrite the persisted index now, with every pending change folded in.")
@json_option
@click.pass_context
@user_errors
def index_cmd(ctx: click.Context, db_path: str | None, dense: bool, compact: bool, as_json: bool) -> None:
    """Encode the chunks and entities that have no search vectors yet (kg ingest does it as it goes).

    Example:

        kg index --db kg.db
    """
    with open_graph(ctx, db_path) as g:
        done = g.index(dense=dense, compact=compact)
    if as_json:
        _emit_json(done)
    else:
        compacted = done.pop("compacted", 0)
        out.print(", ".join(f"{v} {k.replace('_', ' ')}" for k, v in done.items()) + " encoded"
                  + ("; the persisted index was rewritten" if compacted else ""))


# -- benchmarks -----------------------------------------------------------------------------------------------
@cli.group()
def bench() -> None:
    """Speed and quality benchmarks; each prints a table and compares against a peer in the same run.

    Example:

        kg bench ingest ../shared/datasets/musique-100
    """


@bench.command("cli")
@click.option("--db", "db_path", metavar="FILE", default=None,
              help="Time commands against this store (default: one built from the bundled sample).")
@click.option("--repeat", type=click.IntRange(min=1), default=5, show_default=True, help="Cold runs per command.")
@json_option
@user_errors
def bench_cli(db_path: str | None, repeat: int, as_json: bool) -> None:
    """Seconds a fresh kg process takes for each command, against a bare Python start in the same run.

    Example:

        kg bench cli --repeat 5
    """
    from kg.bench.cli import print_cli_bench, run_cli_bench

    result = run_cli_bench(db_path, repeat, progress=None if as_json else err)
    _emit_json(result) if as_json else print_cli_bench(result, out)


@bench.command("serve")
@click.argument("dataset", type=click.Path(exists=True))
@click.option("--db", "db_path", metavar="FILE", default=None,
              help="The store to serve, built from DATASET's corpus when missing (kept for later runs).")
@click.option("--queries", type=click.IntRange(min=1), default=50, show_default=True, help="Warm searches timed.")
@click.option("--peer-queries", type=click.IntRange(min=1), default=5, show_default=True,
              help="kg search processes timed for the peer.")
@click.option("--seconds", type=click.FloatRange(min=1), default=15, show_default=True,
              help="Duration of each concurrent-clients run.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Also write the JSON result here.")
@json_option
@user_errors
def bench_serve(dataset: str, db_path: str | None, queries: int, peer_queries: int, seconds: float,
                out_path: str | None, as_json: bool) -> None:
    """The service against a kg search process per question: start-up, warm search p50 / p95 and the ratio,
    throughput with 1, 4 and 16 clients, and 4 clients while another process ingests (errors must be 0).

    Example:

        kg bench serve ../shared/datasets/musique-100 --db musique.db
    """
    from kg.bench.serve import print_serve_bench, run_serve_bench

    result = run_serve_bench(dataset, db_path, queries, peer_queries, seconds, progress=None if as_json else err)
    _write_json(out_path, result)
    _emit_json(result) if as_json else print_serve_bench(result, out)


@bench.command("ingest")
@click.argument("dataset", type=click.Path(exists=True))
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N passages.")
@click.option("--processes", type=click.IntRange(min=1), default=2, show_default=True,
              help="spaCy worker processes, for both the ingest and the bare NER pass.")
@click.option("--no-parser", is_flag=True, help="Ingest without the dependency parser.")
@click.option("--repeat", type=click.IntRange(min=1), default=1, show_default=True,
              help="Alternate both runs N times and report the best of each.")
@json_option
@user_errors
def bench_ingest(dataset: str, limit: int | None, processes: int, no_parser: bool, repeat: int,
                 as_json: bool) -> None:
    """Ingest throughput and peak memory against a bare spaCy NER pass over the same texts.

    DATASET is a folder with corpus.jsonl (or a .jsonl file).

    Example:

        kg bench ingest ../shared/datasets/musique-100
    """
    from kg.bench.ingest import print_ingest_bench, run_ingest_bench
    result = run_ingest_bench(dataset, limit=limit, processes=processes, parser=not no_parser,
                              progress=None if as_json else err, repeat=repeat)
    _emit_json(result) if as_json else print_ingest_bench(result, out)


@bench.command("extract")
@click.argument("dataset", type=click.Path(exists=True))
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N documents.")
@json_option
@user_errors
def bench_extract(dataset: str, limit: int | None, as_json: bool) -> None:
    """Mention recall and entity-merge quality against gold clusters (Re-DocRED format).

    Example:

        kg bench extract ../shared/datasets/redocred-dev
    """
    from kg.bench.extract import print_extract_bench, run_extract_bench
    result = run_extract_bench(dataset, limit=limit, progress=None if as_json else err)
    _emit_json(result) if as_json else print_extract_bench(result, out)


@bench.command("link")
@click.argument("dataset", type=click.Path(exists=True))
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N documents.")
@click.option("--processes", type=click.IntRange(min=1), default=2, show_default=True,
              help="spaCy worker processes, for both the ingest and the bare NER pass.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Also write the JSON result to this file.")
@json_option
@user_errors
def bench_link(dataset: str, limit: int | None, processes: int, out_path: str | None, as_json: bool) -> None:
    """Cross-document linking: whether mentions of one gold entity in different documents land on one graph
    entity, against grouping spaCy NER mentions by their normalised name (as GraphRAG and LightRAG merge).

    DATASET is a folder with docs.jsonl ({id, title, text, entities: [{id, start, end}]}, the entity ids global,
    e.g. Wikidata QIDs, the offsets characters into text), or that file.

    Example:

        kg bench link ./link-gold --out link.json
    """
    from kg.bench.link import print_link_bench, run_link_bench
    result = run_link_bench(dataset, limit=limit, processes=processes, progress=None if as_json else err)
    _write_json(out_path, result)
    _emit_json(result) if as_json else print_link_bench(result, out)


@bench.command("retrieval")
@click.argument("dataset", type=click.Path(exists=True, file_okay=False))
@click.option("--db", "db_path", metavar="FILE", default=None,
              help="Keep the store here; if it already holds documents, reuse it (no ingest, no timings).")
@click.option("--limit-queries", type=click.IntRange(min=1), default=None, help="Only the first N queries.")
@click.option("--processes", type=click.IntRange(min=1), default=2, show_default=True,
              help="spaCy worker processes, for both the ingest and the bare NER pass.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="torch threads for every encoder, peers included (default: torch's own choice).")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Also write the JSON result to this file.")
@json_option
@user_errors
def bench_retrieval(dataset: str, db_path: str | None, limit_queries: int | None, processes: int,
                    threads: int | None, out_path: str | None, as_json: bool) -> None:
    """Passage recall and query latency of each retrieval mode against BM25 and dense MiniLM peers.

    DATASET is a folder with corpus.jsonl ({id, title, text}) and queries.jsonl ({id, question, supporting}).
    The corpus is ingested into a temporary store, or into --db, which later runs reuse.

    Example:

        kg bench retrieval ../shared/datasets/musique-100 --db /tmp/musique.db
    """
    from kg.bench.retrieval import print_retrieval_bench, run_retrieval_bench
    result = run_retrieval_bench(dataset, db=db_path, limit_queries=limit_queries, processes=processes,
                                 threads=threads, progress=None if as_json else err)
    _write_json(out_path, result)
    _emit_json(result) if as_json else print_retrieval_bench(result, out)


@bench.command("qa")
@click.argument("dataset", type=click.Path(exists=True, file_okay=False))
@click.option("--llm", "llms", metavar="NAME", multiple=True,
              help="A chat model to score, as for kg ask; repeatable (default: $KG_LLM, else local).")
@click.option("--no-llm", is_flag=True, help="Only the extractive answerer.")
@click.option("--db", "db_path", metavar="FILE", default=None,
              help="Keep the store here; if it already holds documents, reuse it.")
@click.option("--limit-queries", type=click.IntRange(min=1), default=None, help="Only the first N questions.")
@click.option("-k", type=click.IntRange(min=1), default=8, show_default=True, help="Chunks (and BM25 passages).")
@click.option("--no-peer", is_flag=True, help="Skip the BM25 peer rows.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Also write the JSON result, with every prediction, to this file.")
@json_option
@user_errors
def bench_qa(dataset: str, llms: tuple[str, ...], no_llm: bool, db_path: str | None, limit_queries: int | None,
             k: int, no_peer: bool, out_path: str | None, as_json: bool) -> None:
    """Exact match and token F1 of kg ask's answers, with source recall and seconds per question, against the
    same answerer over BM25 passages. The extractive answerer (--no-llm) always runs.

    DATASET is a folder with corpus.jsonl and queries.jsonl ({id, question, answers, supporting}).

    Example:

        kg bench qa ../shared/datasets/musique-100 --db /tmp/musique.db
    """
    from kg.bench.qa import print_qa_bench, run_qa_bench
    from kg.llm import default_llm

    names = [] if no_llm else list(llms or [default_llm()])
    result = run_qa_bench(dataset, names, db=db_path, limit_queries=limit_queries, k=k, peer=not no_peer,
                          progress=None if as_json else err)
    _write_json(out_path, result)
    _emit_json(result) if as_json else print_qa_bench(result, out)


@bench.command("lifecycle")
@click.argument("dataset", type=click.Path(exists=True))
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N passages.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Picks the documents each step adds, deletes and changes.")
@click.option("--deletes", type=click.IntRange(min=1), default=20, show_default=True,
              help="Documents deleted one at a time from each store for the per-document delete time.")
@click.option("--no-index", is_flag=True, help="Ingest without encoding for search (faster; no vectors compared).")
@click.option("--processes", type=click.IntRange(min=1), default=2, show_default=True,
              help="spaCy worker processes.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Also write the JSON result to this file.")
@json_option
@user_errors
def bench_lifecycle(dataset: str, limit: int | None, seed: int, deletes: int, no_index: bool, processes: int,
                    out_path: str | None, as_json: bool) -> None:
    """Time a build of 90 % of the passages, an add of 10 %, a delete of 10 % and a change of 1 %, each against
    a from-scratch rebuild of its result that the store must equal; then the per-document delete time at two
    store sizes. Each passage is written to a file of its own in a temporary folder.

    DATASET is a folder with corpus.jsonl ({id, title, text}), or that file.

    Example:

        kg bench lifecycle ../shared/datasets/musique-100 --out lifecycle.json
    """
    from kg.bench.lifecycle import print_lifecycle_bench, run_lifecycle_bench
    result = run_lifecycle_bench(dataset, limit=limit, seed=seed, deletes=deletes, index=not no_index,
                                 processes=processes, progress=None if as_json else err)
    _write_json(out_path, result)
    _emit_json(result) if as_json else print_lifecycle_bench(result, out)


@bench.command("scale")
@click.argument("dataset", type=click.Path(exists=True, file_okay=False))
@click.option("--sizes", default="10000,30000,100000", show_default=True,
              help="Corpus sizes in passages, comma-separated.")
@click.option("--base-limit", type=click.IntRange(min=1), default=None,
              help="Copy only the first N passages of corpus.jsonl.")
@click.option("--processes", type=click.IntRange(min=1), default=2, show_default=True,
              help="spaCy worker processes, for both the ingest and the bare NER pass.")
@click.option("--keep", "keep", metavar="DIR", default=None,
              help="Keep the corpora and stores here; a later run reuses a corpus it finds there.")
@click.option("--queries", type=click.IntRange(min=1), default=None, help="Only the first N queries.")
@click.option("--deletes", type=click.IntRange(min=1), default=5, show_default=True,
              help="Single documents replaced and deleted at each size.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Also write the JSON result to this file.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write a PNG with one log-log panel per figure (needs matplotlib: kg-rag[bench]).")
@json_option
@user_errors
def bench_scale(dataset: str, sizes: str, base_limit: int | None, processes: int, keep: str | None,
                queries: int | None, deletes: int, out_path: str | None, plot_path: str | None,
                as_json: bool) -> None:
    """Ingest, search, delete and disk figures at growing corpus sizes, and the growth exponent of each.

    DATASET is a folder with corpus.jsonl and queries.jsonl; each size copies its passages with fresh names.
    Progress goes to stderr; --out is rewritten after each size, so a long run keeps what it measured.

    Example:

        kg bench scale ../shared/datasets/musique-100 --sizes 10000,30000,100000 --plot scale.png
    """
    from kg.bench.scale import plot_scale_bench, print_scale_bench, run_scale_bench
    try:
        wanted = [int(x) for x in sizes.split(",") if x.strip()]
    except ValueError:
        raise click.BadParameter(f"{sizes!r}: give passage counts separated by commas, e.g. 2000,6000",
                                 param_hint="--sizes") from None
    result = run_scale_bench(dataset, wanted, base_limit=base_limit, processes=processes, keep=keep,
                             queries=queries, deletes=deletes, progress=err,
                             on_size=lambda partial: _write_json(out_path, partial))
    _write_json(out_path, result)
    if plot_path:
        plot_scale_bench(result, plot_path)
    _emit_json(result) if as_json else print_scale_bench(result, out)


def _write_json(path: str | None, result: dict[str, Any]) -> None:
    if path:
        try:
            Path(path).write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        except OSError as e:
            raise UserError(f"{path}: cannot write ({e})") from None


def main() -> None:
    """Run the CLI: exit 0 on success, 1 on an error, 2 on a usage mistake, 130 on Ctrl-C."""
    try:
        code = cli.main(prog_name="kg", standalone_mode=False)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except click.exceptions.Abort as e:  # a declined confirmation, or Ctrl-C at a prompt
        if isinstance(e.__context__, KeyboardInterrupt):
            err.print("\ninterrupted")
            sys.exit(130)
        err.print("aborted; nothing was changed")
        sys.exit(1)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except BrokenPipeError:  # `kg docs | head`: the reader went away
        sys.stderr.close()
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
