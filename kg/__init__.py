"""kg: knowledge-graph construction and retrieval without an LLM at index time."""

from typing import Any

__all__ = ["KGConfig", "KGError", "KnowledgeGraph", "NotFound"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """The API is imported on first use, so ``kg --version`` and ``kg --help`` start at once."""
    if name in __all__:
        from kg import api

        return getattr(api, name)
    raise AttributeError(f"module 'kg' has no attribute {name!r}")
