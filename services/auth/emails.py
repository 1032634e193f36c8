"""Auth's name for the platform's email rule, which lives in services/runtime/emails.py so that the workspace
service (invitations) normalises addresses exactly as accounts do."""

from services.runtime.emails import MAX_EMAIL_LENGTH, normalize_email

__all__ = ["MAX_EMAIL_LENGTH", "normalize_email"]
