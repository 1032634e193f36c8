"""A byte stream cut into records (SSE's blank-line-separated events, NDJSON's lines) without decoding it:
the bytes-level splitting the streaming adapters share."""

from __future__ import annotations


class Records:
    """Cuts a byte stream into records that each end in `separator`, reading every line ending (CRLF, CR, LF)
    as LF, whichever chunk boundaries fall inside a record, a line ending or a UTF-8 character."""

    def __init__(self, separator: bytes) -> None:
        self._separator = separator
        # The unfinished record, its line endings already LF but for a CR held back; for callers to read
        # (an attribute, not a property: the SSE decoder asks whether one waits for every token).
        self.rest = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        buffer = self.rest + chunk if self.rest else chunk
        if b"\r" in buffer:
            buffer = _lf_endings(buffer)
        records = buffer.split(self._separator)
        self.rest = records.pop()
        return records

    def end(self) -> tuple[list[bytes], bytes]:
        """At the body's end: the records a held-back CR finished, and what is left unfinished."""
        records = self.rest.replace(b"\r", b"\n").split(self._separator)
        self.rest = b""
        return records, records.pop()


def _lf_endings(buffer: bytes) -> bytes:
    """CRLF and CR as LF; a CR at the end stays CR, as the next chunk may start with the LF of a CRLF."""
    held = buffer.endswith(b"\r")
    if held:
        buffer = buffer[:-1]
    buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return buffer + b"\r" if held else buffer
