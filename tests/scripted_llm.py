"""A scripted LangChain chat model for the tests that must not depend on what a real model says.

It records every prompt it receives and streams its scripted replies word by word, optionally ending with the
token usage a provider such as OpenAI reports on its last chunk.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field


class ScriptedChatModel(BaseChatModel):
    replies: list[str]
    prompts: list[list[BaseMessage]] = Field(default_factory=list)
    report_usage: bool = True
    fail_with: str | None = None  # raise this (a ConnectionError) instead of answering

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _next(self, messages: list[BaseMessage]) -> str:
        self.prompts.append(list(messages))
        if self.fail_with:
            raise ConnectionError(self.fail_with)
        return self.replies[min(len(self.prompts), len(self.replies)) - 1]

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(self._next(messages)))])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None,
                **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        pieces = re.findall(r"\S+\s*", self._next(messages))
        for piece in pieces:
            yield ChatGenerationChunk(message=AIMessageChunk(content=piece))
        if self.report_usage:
            usage = {"input_tokens": 321, "output_tokens": len(pieces), "total_tokens": 321 + len(pieces)}
            yield ChatGenerationChunk(message=AIMessageChunk(content="", usage_metadata=usage))  # type: ignore[arg-type]
