"""``kg serve``: the knowledge graph as a long-running HTTP service, with a web explorer at ``/``.

Models and the search index load once, in the background at start-up (``GET /api/health`` says when they are
ready); every endpoint is a thin shell over the ``KnowledgeGraph`` call of the same name, as the CLI is. Errors
are JSON with a status code that says what went wrong (404 for an unknown entity or document, with close
matches; 422 for bad parameters; 413 for an oversized upload; 403 for a write on a read-only service; 401 without
the token), and nothing a client sends reaches a traceback. The explorer's scripts and style sheets are served
from the installed package, never a CDN.
"""

from __future__ import annotations

import json
import os
import queue
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, File, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from kg.api import KGError, KnowledgeGraph, NoSuchDocument, NotFound
from retrieve.config import MODES

WEB = Path(__file__).resolve().parent / "web"
MAX_QUERY = 2000  # characters in a question or search
MAX_BODY_MB = 32  # an upload's size, as for `kg ingest` (KG_MAX_FILE_MB)
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
WRITES = frozenset({"/api/merge", "/api/unmerge", "/api/unfuse", "/api/delete", "/api/ingest"})
_SAFE_NAME = re.compile(r"[^\w.\- ]+")


class AskBody(BaseModel):
    question: str = Field(min_length=1, max_length=MAX_QUERY)
    k: int = Field(default=6, ge=1, le=50)
    mode: str = Field(default="hybrid", pattern="^(" + "|".join(MODES) + ")$")
    llm: str | None = Field(default=None, max_length=200)
    no_llm: bool = False


class MergeBody(BaseModel):
    keep: str = Field(min_length=1, max_length=500)
    other: str = Field(min_length=1, max_length=500)


class NameBody(BaseModel):
    name: str = Field(min_length=1, max_length=500)
    allow: bool = False


class DeleteBody(BaseModel):
    selectors: list[str] = Field(min_length=1, max_length=1000)


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def max_upload_bytes() -> int:
    try:
        return int(float(os.environ.get("KG_MAX_FILE_MB", MAX_BODY_MB)) * 2**20)
    except ValueError:
        return MAX_BODY_MB * 2**20


def create_app(g: KnowledgeGraph, *, read_only: bool = False, token: str | None = None,
               llm: str | None = None, warm: bool = True) -> FastAPI:
    """The service over ``g``. ``token``: every ``/api`` call needs ``Authorization: Bearer TOKEN``. ``llm``:
    the default chat model of ``/api/ask`` (else ``$KG_LLM``, else the local one). ``warm``: load the models
    and the index in a background thread at start-up."""
    app = FastAPI(title="kg", summary="A knowledge graph of your documents: search, ask, inspect.",
                  docs_url="/docs", redoc_url=None)
    ready = threading.Event()
    state: dict[str, Any] = {"started": time.time(), "error": None}
    search_lock = threading.Lock()  # one retrieval at a time: spaCy and the index refresh share state
    write_lock = threading.Lock()
    uploads = Path(f"{g.path}.uploads") if str(g.path) != ":memory:" else None

    def warm_up() -> None:
        try:
            g.warm_up()
        except Exception as e:  # reported by /api/health, never raised into a request
            state["error"] = f"{type(e).__name__}: {e}"
        finally:
            state["ready_after"] = round(time.time() - state["started"], 2)
            ready.set()

    @app.on_event("startup")
    def _start() -> None:
        if warm:
            threading.Thread(target=warm_up, name="kg-warm-up", daemon=True).start()
        else:
            state["ready_after"] = 0.0
            ready.set()

    @app.middleware("http")
    async def guard(request: Request, call_next):  # type: ignore[no-untyped-def]
        if request.url.path.startswith("/api/"):
            if token is not None and request.headers.get("authorization", "") != f"Bearer {token}":
                return _error(401, "this service needs its token: Authorization: Bearer TOKEN")
            if read_only and request.url.path in WRITES:
                return _error(403, "this service is read-only (kg serve --read-only)")
            length = request.headers.get("content-length")
            if length and length.isdigit() and int(length) > max_upload_bytes():
                return _error(413, f"request larger than {max_upload_bytes() // 2**20} MB")
        return await call_next(request)

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, e: NotFound) -> JSONResponse:
        return _error(404, str(e), suggestions=e.suggestions)

    @app.exception_handler(NoSuchDocument)
    async def _no_document(_: Request, e: NoSuchDocument) -> JSONResponse:
        return _error(404, str(e))

    @app.exception_handler(KGError)
    async def _kg_error(_: Request, e: KGError) -> JSONResponse:
        return _error(400, str(e))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, e: RequestValidationError) -> JSONResponse:
        problems = [{"where": ".".join(str(p) for p in err.get("loc", ())), "problem": err.get("msg", "")}
                    for err in e.errors()]
        return _error(422, "invalid parameters", problems=problems)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, e: Exception) -> JSONResponse:
        return _error(500, f"internal error ({type(e).__name__})")

    # -- reading ------------------------------------------------------------------------------------------------
    @app.get("/api/health")
    def health() -> dict[str, Any]:
        """Whether the models and index are loaded (``ready``), and the store's counts once they are."""
        out: dict[str, Any] = {"ready": ready.is_set() and state["error"] is None, "read_only": read_only,
                               "error": state["error"], "ready_after_seconds": state.get("ready_after")}
        if ready.is_set():
            out["stats"] = g.stats().to_dict()
        return out

    @app.get("/api/stats")
    def stats() -> dict[str, Any]:
        return g.stats().to_dict()

    @app.get("/api/search")
    def search(q: str = Query(min_length=1, max_length=MAX_QUERY), k: int = Query(8, ge=1, le=100),
               mode: str = Query("hybrid", pattern="^(" + "|".join(MODES) + ")$")) -> dict[str, Any]:
        """Ranked chunks with each channel's share, the matched word pieces and entities, and the graph path
        from a query entity; and the entities found in the question."""
        with search_lock:
            report = g.search_report(q, k, mode)
        return {"results": [r.to_dict() for r in report.results],
                "query_entities": [vars(e) for e in report.query_entities],
                "seconds": round(report.seconds, 4), "unindexed": report.unindexed}

    @app.post("/api/ask")
    def ask(body: AskBody) -> StreamingResponse:
        """The answer as server-sent events: ``token`` events as it is written, then ``answer`` (text, citations,
        sources, facts, usage, the ranked results with their graph paths and the question's entities: the query
        trace), or ``error``."""
        events: queue.Queue[tuple[str, Any] | None] = queue.Queue()

        def run() -> None:
            try:
                with search_lock:
                    a = g.ask(body.question, body.k, body.mode, llm=body.llm or llm, extractive=body.no_llm,
                              on_token=lambda t: events.put(("token", {"text": t})), fallback=True)
                events.put(("answer", a.to_dict()))
            except KGError as e:
                events.put(("error", {"error": str(e)}))
            except Exception as e:  # the stream ends with an error event, never a broken connection
                events.put(("error", {"error": f"internal error ({type(e).__name__})"}))
            finally:
                events.put(None)

        threading.Thread(target=run, name="kg-ask", daemon=True).start()

        def stream() -> Iterator[str]:
            while (item := events.get()) is not None:
                kind, data = item
                yield f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.get("/api/entities")
    def entities(prefix: str = Query("", max_length=200), type: str | None = Query(None, max_length=32),
                 limit: int = Query(10, ge=1, le=100)) -> list[dict[str, Any]]:
        """Autocomplete: entities whose name or alias starts with ``prefix``, then close spellings; with no
        prefix, the most mentioned."""
        if not prefix.strip():
            return [e.to_dict() for e in g.entities(type=type or None, top=limit)]
        return [e.to_dict() for e in g.autocomplete(prefix, type or None, limit)]

    @app.get("/api/entity")
    def entity(name: str = Query(min_length=1, max_length=500),
               mentions: int = Query(10, ge=0, le=200)) -> dict[str, Any]:
        """One entity's card: aliases, type, KB id, description, mentions with snippets, relations with evidence,
        documents, and the names fused into it."""
        return g.entity(name, mentions=mentions).to_dict()

    @app.get("/api/neighbors")
    def neighbors(name: str = Query(min_length=1, max_length=500), hops: int = Query(1, ge=1, le=4),
                  limit: int = Query(50, ge=1, le=500),
                  types: Annotated[list[str] | None, Query()] = None) -> dict[str, Any]:
        """Entities within ``hops`` relations, nearest first, at most ``limit``, only of ``types`` if given."""
        found = g.neighbors(name, hops, limit).to_dict()
        if types:
            found["neighbors"] = [n for n in found["neighbors"] if n["type"] in types]
            kept = {found["entity"]["name"], *(n["name"] for n in found["neighbors"])}
            found["edges"] = [e for e in found["edges"] if e[0] in kept and e[2] in kept]
        return found

    @app.get("/api/subgraph")
    def subgraph(names: Annotated[list[str], Query(min_length=1, max_length=50)],
                 hops: int = Query(1, ge=0, le=3), limit: int = Query(60, ge=1, le=500),
                 types: Annotated[list[str] | None, Query()] = None) -> dict[str, Any]:
        """The entities within ``hops`` relations of ``names`` (the seeds), at most ``limit``, of ``types`` if
        given, with the relations among them."""
        return g.subgraph(names, hops, limit, types).to_dict()

    @app.get("/api/documents")
    def documents() -> list[dict[str, Any]]:
        return [d.to_dict() for d in g.documents()]

    @app.get("/api/documents/{doc_id}")
    def document(doc_id: int) -> dict[str, Any]:
        """A document's text with its mention spans, each linked to its entity."""
        return g.document(doc_id).to_dict()

    @app.get("/api/chunks/{chunk_id}")
    def chunk(chunk_id: int) -> dict[str, Any]:
        """One chunk's text, its place in its document, and the entities it mentions."""
        return g.chunk(chunk_id)

    @app.get("/api/merges")
    def merges() -> list[dict[str, object]]:
        return g.merge_log()

    @app.get("/api/fusions")
    def fusions() -> dict[str, Any]:
        found = g.fusions()
        return {"fused": [f.to_dict() for f in found["fused"]], "undone": found["undone"]}

    # -- writing ------------------------------------------------------------------------------------------------
    @app.post("/api/merge")
    def merge(body: MergeBody) -> dict[str, Any]:
        with write_lock:
            return g.merge(body.keep, body.other).to_dict()

    @app.post("/api/unmerge")
    def unmerge(body: NameBody) -> dict[str, Any]:
        with write_lock:
            return g.unmerge(body.name).to_dict()

    @app.post("/api/unfuse")
    def unfuse(body: NameBody) -> dict[str, Any]:
        with write_lock:
            return g.unfuse(body.name, allow=body.allow)

    @app.post("/api/delete")
    def delete(body: DeleteBody) -> dict[str, Any]:
        with write_lock:
            return g.delete(body.selectors).to_dict()

    @app.post("/api/ingest")
    def ingest(files: Annotated[list[UploadFile], File()]) -> Any:
        """Store uploaded files through the same loaders and size limit as ``kg ingest`` (beside the store, in
        ``STORE.uploads/``: uploading a file of the same name again replaces its document)."""
        if uploads is None:
            return _error(400, "an in-memory store keeps no uploads")
        limit = max_upload_bytes()
        saved: list[Path] = []
        uploads.mkdir(exist_ok=True)
        for f in files:
            name = _SAFE_NAME.sub("_", Path(f.filename or "").name).strip(" .")
            if not name:
                return _error(422, f"not a file name: {f.filename!r}")
            data = f.file.read(limit + 1)
            if len(data) > limit:
                return _error(413, f"{name}: larger than {limit // 2**20} MB")
            target = uploads / name
            target.write_bytes(data)
            saved.append(target)
        with write_lock:
            report = g.ingest(saved)
        return report.to_dict()

    # -- the explorer -------------------------------------------------------------------------------------------
    app.mount("/static", StaticFiles(directory=WEB), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(WEB / "index.html", headers={"Content-Security-Policy": CSP})

    return app


# Scripts only from this service, nothing inline and no eval: an injected <script> cannot run. (The graph
# library sets its canvas styles inline, which cannot run code.)
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


def serve(g: KnowledgeGraph, host: str, port: int, *, read_only: bool, token: str | None,
          llm: str | None = None) -> None:
    import uvicorn

    uvicorn.run(create_app(g, read_only=read_only, token=token, llm=llm), host=host, port=port,
                log_level="warning", timeout_graceful_shutdown=5)
