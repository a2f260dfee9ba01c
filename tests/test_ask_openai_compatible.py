"""``kg ask --llm openai:MODEL`` against a real OpenAI-compatible endpoint: llama.cpp's server on the local model.

This is the README's "any OpenAI-compatible endpoint" recipe, run for real: LangChain's ChatOpenAI, the openai
client reading OPENAI_BASE_URL, streaming over HTTP (server-sent events), and the provider's usage figures.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import SAMPLE

from kg.cli import cli
from kg.llm import local_model_path

pytest.importorskip("langchain_openai", reason="the openai extra (langchain-openai) is part of the test extra")
pytest.importorskip("sse_starlette", reason="llama-cpp-python[server] is part of the test extra")

ALIAS = "smollm2-local"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(local_model_path()), "--model_alias", ALIAS,
             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096", "--verbose", "False"],
            stdout=fh, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}/v1"
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/models", timeout=2) as r:
                        if ALIAS in r.read().decode():
                            break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"llama.cpp server did not start: {log.read_text(errors='replace')[-2000:]}")
                time.sleep(0.5)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_ask_through_an_openai_compatible_endpoint(endpoint: str, tmp_path: Path) -> None:
    db = tmp_path / "kg.db"
    runner = CliRunner()
    assert runner.invoke(cli, ["ingest", str(SAMPLE), "--db", str(db), "-q"]).exit_code == 0
    env = {"KG_DB": None, "KG_LLM": None, "OPENAI_BASE_URL": endpoint, "OPENAI_API_KEY": "none"}
    question = "Who founded the institute where Irène Joliot-Curie worked?"
    r = runner.invoke(cli, ["ask", question, "-k", "4", "--llm", f"openai:{ALIAS}", "--json", "--db", str(db)],
                      env=env)
    assert r.exit_code == 0, (r.output, r.exception)
    a = json.loads(r.stdout)
    assert a["llm"] == f"openai:{ALIAS}" and a["text"] and a["fallback"] is None
    assert a["usage"]["output_tokens"] > 0 and a["usage"]["input_tokens"] > 0
    assert a["usage"]["counted_by"] in ("provider", "estimate")
    assert {c["chunk_id"] for c in a["citations"]} <= {s["chunk_id"] for s in a["sources"]}
    # streamed to the terminal: the same answer, then the sources
    r = runner.invoke(cli, ["ask", question, "-k", "4", "--llm", f"openai:{ALIAS}", "--db", str(db)], env=env)
    assert r.exit_code == 0, (r.output, r.exception)
    assert "\nSources\n[1] " in r.stdout and f"openai:{ALIAS} · " in r.stdout


def test_an_unreachable_endpoint_is_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "kg.db"
    runner = CliRunner()
    assert runner.invoke(cli, ["ingest", str(SAMPLE / "people"), "--db", str(db), "-q"]).exit_code == 0
    env = {"KG_DB": None, "KG_LLM": None, "OPENAI_BASE_URL": f"http://127.0.0.1:{_free_port()}/v1",
           "OPENAI_API_KEY": "none"}
    r = runner.invoke(cli, ["ask", "Who was Marie Curie?", "--llm", "openai:whatever", "--db", str(db)], env=env)
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert "the LLM call failed" in r.stderr and "--no-llm" in r.stderr
