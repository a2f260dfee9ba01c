"""``kg fuse --llm``: an LLM judges the names cross-document fusion left apart though longer names hold them.

The rules fold a short name only into the one longer name of its type that holds or abbreviates it. When two or
more fit ("Einstein" beside "Albert Einstein" and "Alfred Einstein"), or the one that fits is used in far fewer
documents, they leave it apart; here an LLM reads a sentence that uses the short name and one for each option, and
answers with the option's number or 0. Each fold it makes is a pin in the store (``fusion_pins``), recorded in
the merge log and undone like any other with ``kg unfuse``. Nothing here runs unless asked, and no measured figure
depends on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from kg.types import _Dict
from store.fusion import display_name, uncertain
from store.rows import raw_cursor

SYSTEM = ("You decide whether a short name in a text refers to one of several entities with longer names. Reply "
          "with the number of the entity it refers to, or 0 if it refers to none of them or you are not sure. "
          "Reply with the number only.")


@dataclass
class FuseDecision(_Dict):
    name: str
    options: list[str]
    choice: str | None  # the option the judge chose; None: kept apart
    reply: str
    folded: bool  # the fold was made (not in a dry run, and still one of the options)


def _sentence(conn: Any, norm: str, width: int = 120) -> str:
    """A passage around one mention of a name, for the prompt."""
    row = conn.exec_driver_sql(
        "SELECT c.text, m.start, m.\"end\" FROM mentions m JOIN local_entities l ON l.id = m.local_id "
        "JOIN chunks c ON c.id = m.chunk_id WHERE l.norm = ? ORDER BY m.id LIMIT 1", (norm,)).first()
    if row is None:
        return ""
    text, a, b = row
    lo, hi = max(0, a - width), min(len(text), b + width)
    return " ".join(text[lo:hi].split())


def prompt(conn: Any, norm: str, options: list[str]) -> list[tuple[str, str]]:
    cur = raw_cursor(conn)
    lines = [f'Short name: "{display_name(cur, norm)}"', f'Text using it: "{_sentence(conn, norm)}"', "Entities:"]
    lines += [f'{i}. {display_name(cur, o)}: "{_sentence(conn, o)}"' for i, o in enumerate(options, 1)]
    lines.append("Which entity does the short name refer to? Reply with its number, or 0.")
    return [("system", SYSTEM), ("human", "\n".join(lines))]


def parse_choice(reply: str, n: int) -> int | None:
    """The option number the reply gives (1..n), or None for 0, no number or one out of range."""
    m = re.search(r"\d+", reply)
    if m is None:
        return None
    k = int(m.group())
    return k if 1 <= k <= n else None


def judge(db: Any, model: Any, source: str, limit: int, dry_run: bool) -> list[FuseDecision]:
    """Ask ``model`` about up to ``limit`` names the rules left apart; fold the ones it places unless
    ``dry_run``. Each fold is its own transaction."""
    from store.resolve import pin_fold

    with db.read() as s:
        conn = s.connection()
        cur = raw_cursor(conn)
        todo = [(p.norm, opts, prompt(conn, p.norm, opts), display_name(cur, p.norm),
                 [display_name(cur, o) for o in opts]) for p, opts in uncertain(cur, limit)]
    out = []
    for norm, opts, messages, name, shown in todo:
        reply = model.invoke(messages)
        text = reply.content if isinstance(reply.content, str) else str(reply.content)
        k = parse_choice(text, len(opts))
        folded = False
        if k is not None and not dry_run:
            with db.write() as s:
                folded = pin_fold(s.connection(), norm, opts[k - 1], source) is not None
        out.append(FuseDecision(name, shown, shown[k - 1] if k is not None else None, text.strip()[:200], folded))
    return out
