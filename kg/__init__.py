"""kg: knowledge-graph construction and retrieval without an LLM at index time."""

from kg.api import KGConfig, KGError, KnowledgeGraph, NotFound

__all__ = ["KGConfig", "KGError", "KnowledgeGraph", "NotFound"]
__version__ = "0.1.0"
