"""A byte stream cut into records (SSE's blank-line-separated events, NDJSON's lines) without decoding it:
the bytes-level splitting the streaming adapters share."""

from __future__ import annotations


class Records:
    """Cuts a byte stream into records that each end in `separator`, reading every line ending (CRLF, CR, LF)
    as LF, whichever chunk boundaries fall inside a record, a line ending or a UTF-8 character."""

    def __init__(self, separator: bytes) -> None:
        self._separator = separator
        self._rest = b""  # the unfinished record, its line endings already LF but for a CR held back

    @property
    def pending(self) -> bool:
        """Whether an unfinished record waits for more bytes."""
        return bool(self._rest)

    def feed(self, chunk: bytes) -> list[bytes]:
        buffer = self._rest + chunk if self._rest else chunk
        if b"\r" in buffer:
            buffer = _lf_endings(buffer)
        records = buffer.split(self._separator)
        self._rest = records.pop()
        return records

    def end(self) -> tuple[list[bytes], bytes]:
        """At the body's end: the records a held-back CR finished, and what is left unfinished."""
        records = self._rest.replace(b"\r", b"\n").split(self._separator)
        self._rest = b""
        return records, records.pop()


def _lf_endings(buffer: bytes) -> bytes:
    """CRLF and CR as LF; a CR at the end stays CR, as the next chunk may start with the LF of a CRLF."""
    held = buffer.endswith(b"\r")
    if held:
        buffer = buffer[:-1]
    buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return buffer + b"\r" if held else buffer
