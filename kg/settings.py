"""Configuration as data: ``KGConfig`` from a TOML file and from environment variables, every field named one way.

Sources, a later one winning over an earlier one for each field:

1. the defaults (the dataclasses in ``kg.api``, ``extract.config``, ``retrieve.config``, ...);
2. a TOML file: ``--config FILE`` (or ``$KG_CONFIG``), else ``kg.toml`` beside the store. Sections are the
   ``KGConfig`` parts, nested as they nest: ``[retrieve.graph]`` / ``damping = 0.85``;
3. environment variables ``KG_<SECTION>__<FIELD>``, ``__`` between nested names: ``KG_RETRIEVE__GRAPH__DAMPING``;
   and, as before, ``KG_SPACY_MODEL``, ``KG_SPARSE_MODEL`` and ``KG_DENSE_MODEL`` for the models.

The sections are ``extract``, ``chunk``, ``retrieve``, ``answer`` and ``generation`` (the LLM's settings,
``KGConfig.llm``; ``KG_LLM`` stays the name of the default chat model). pydantic-settings reads the file and the
environment, and pydantic validates the merged values against the dataclasses' own field types; an unknown
name or a value of the wrong type is a ``SettingsError`` that says which and where it came from.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

SECTIONS = {"extract": "extract", "chunk": "chunk", "retrieve": "retrieve", "answer": "answer", "generation": "llm"}
FILE_NAME = "kg.toml"
MODEL_VARIABLES = {"KG_SPACY_MODEL": ("extract.model", "retrieve.spacy_model"),
                   "KG_SPARSE_MODEL": ("retrieve.sparse_model",), "KG_DENSE_MODEL": ("retrieve.dense_model",)}


class SettingsError(ValueError):
    """A setting that does not exist or does not fit its field."""


class _Sources(BaseSettings):
    """What the file and the environment say, section by section, before validation."""

    model_config = SettingsConfigDict(env_prefix="KG_", env_nested_delimiter="__", case_sensitive=False,
                                      extra="ignore")
    extract: dict[str, Any] = {}
    chunk: dict[str, Any] = {}
    retrieve: dict[str, Any] = {}
    answer: dict[str, Any] = {}
    generation: dict[str, Any] = {}


def _flat(d: Mapping[str, Any], known: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted names and values, down to the settings (a dict-valued setting such as ``retrieve.weights`` is one)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v and key not in known:
            out |= _flat(v, known, key + ".")
        elif isinstance(v, Mapping) and isinstance(known.get(key), Mapping):
            out[key] = {**known[key], **v}  # a few keys of a dict setting: the others keep their defaults
        else:
            out[key] = v
    return out


def _parsed(v: Any) -> Any:
    """An environment variable's text, as JSON when it is a list or an object ('["PERSON", "ORG"]')."""
    if isinstance(v, str) and v.strip()[:1] in ("[", "{"):
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v


def _set(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for p in parents:
        tree = tree.setdefault(p, {})
    tree[leaf] = value


def _known(cfg: Any) -> dict[str, Any]:
    """Every settable name of a config, dotted, with its default (sections as the file names them)."""
    out: dict[str, Any] = {}

    def walk(obj: Any, prefix: str) -> None:
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if dataclasses.is_dataclass(value):
                walk(value, f"{prefix}{f.name}.")
            else:
                out[f"{prefix}{f.name}"] = value

    for section, attr in SECTIONS.items():
        walk(getattr(cfg, attr), section + ".")
    return out


def _jsonable(v: Any) -> Any:
    if isinstance(v, (frozenset, set, tuple)):
        return sorted(v) if isinstance(v, (frozenset, set)) else list(v)
    return v


def config_file(explicit: str | Path | None, store: str | Path | None) -> Path | None:
    """The TOML file to read: the one given (or ``$KG_CONFIG``), else ``kg.toml`` beside the store if present."""
    given = explicit or os.environ.get("KG_CONFIG")
    if given:
        p = Path(given).expanduser()
        if not p.is_file():
            raise SettingsError(f"configuration file {p} does not exist")
        return p
    if store is not None and str(store) != ":memory:":
        beside = Path(store).expanduser().resolve().parent / FILE_NAME
        return beside if beside.is_file() else None
    return None


def load(explicit: str | Path | None = None, store: str | Path | None = None) -> tuple[Any, dict[str, str]]:
    """The effective ``KGConfig`` and, for every setting, where its value came from (``default``, the file's
    path, or the environment variable's name)."""
    from kg.api import KGConfig

    env = os.environ
    defaults = KGConfig()
    known = _known(defaults)
    where = dict.fromkeys(known, "default")
    values: dict[str, Any] = {}
    path = config_file(explicit, store)
    if path is not None:
        try:
            from_file = TomlConfigSettingsSource(_Sources, toml_file=path)()
        except Exception as e:  # a TOML syntax error: the parser says where
            raise SettingsError(f"{path}: {e}") from None
        unknown_sections = set(from_file) - set(SECTIONS)
        if unknown_sections:
            raise SettingsError(f"{path}: unknown section {sorted(unknown_sections)[0]!r}; the sections are "
                                f"{', '.join(SECTIONS)}")
        for key, v in _flat(from_file, known).items():
            values[key], where[key] = v, str(path)
    for key, v in _flat(EnvSettingsSource(_Sources, case_sensitive=False)(), known).items():
        values[key], where[key] = _parsed(v), "KG_" + key.upper().replace(".", "__")
    for var, keys in MODEL_VARIABLES.items():
        if env.get(var):
            for key in keys:
                values[key], where[key] = env[var], var
    for key in values:
        if key not in known:
            near = difflib.get_close_matches(key, known, n=1)
            raise SettingsError(f"unknown setting {key!r} (from {where.get(key, '?')})"
                                + (f"; did you mean {near[0]!r}?" if near else ""))
    tree: dict[str, Any] = {}
    for key, default in known.items():
        _set(tree, key, values.get(key, _jsonable(default)))
    data = {attr: tree[section] for section, attr in SECTIONS.items()}
    try:
        cfg = TypeAdapter(KGConfig).validate_python(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = [str(p) for p in err["loc"]]
        section = next((s for s, a in SECTIONS.items() if loc and a == loc[0]), loc[0] if loc else "")
        key = ".".join([section, *loc[1:]])
        given = f" = {values[key]!r} (from {where[key]})" if key in values else ""
        raise SettingsError(f"setting {key!r}{given}: {err['msg']}") from None
    except ValueError as e:  # a dataclass's own check (chunk overlap larger than the size, say)
        raise SettingsError(str(e)) from None
    return cfg, {k: where[k] for k in known}


def effective(cfg: Any, sources: Mapping[str, str]) -> list[dict[str, Any]]:
    """Every setting with its value and where it came from, for ``kg config show``."""
    now = _known(cfg)
    return [{"setting": k, "value": _jsonable(now[k]), "from": sources.get(k, "default")} for k in now]
