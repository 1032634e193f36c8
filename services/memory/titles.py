"""Conversation titles: given by the user, or taken from the first user message."""

from __future__ import annotations

from services.runtime.errors import BadInput

MAX_TITLE_LENGTH = 200
AUTO_TITLE_LENGTH = 80


def valid_title(raw: str) -> str:
    """A user-given title, trimmed; at most 200 characters (BadInput naming `title` otherwise)."""
    title = raw.strip()
    if len(title) > MAX_TITLE_LENGTH:
        raise BadInput(f"title must be at most {MAX_TITLE_LENGTH} characters", field="title")
    return title


def title_from_message(content: str) -> str:
    """The first message as a one-line title of at most 80 characters, cut at a word boundary when it is
    longer (a single word longer than that is cut where the limit falls)."""
    line = " ".join(content.split())
    if len(line) <= AUTO_TITLE_LENGTH:
        return line
    cut = line[: AUTO_TITLE_LENGTH + 1].rsplit(" ", 1)[0] if " " in line[: AUTO_TITLE_LENGTH + 1] else ""
    return (cut or line[:AUTO_TITLE_LENGTH]).rstrip()
