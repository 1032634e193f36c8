"""Email addresses as the platform stores them: trimmed, lower-cased, syntax-checked (no DNS lookups).

Shared by auth (accounts) and workspace (invitations), so an invitation matches the account it is for.
"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from services.runtime.errors import BadInput

MAX_EMAIL_LENGTH = 254


def normalize_email(raw: str) -> str:
    """The canonical form of `raw`, so Foo@Example.com and foo@example.com are one account."""
    candidate = raw.strip()
    if not candidate:
        raise BadInput("email is required", field="email")
    if len(candidate) > MAX_EMAIL_LENGTH:
        raise BadInput(f"email must be at most {MAX_EMAIL_LENGTH} characters", field="email")
    try:
        validated = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError as error:
        raise BadInput(f"email is not valid: {error}", field="email") from error
    return validated.normalized.lower()
