"""The audit service: the append-only, tamper-evident audit log (one SHA-256 hash chain per tenant)."""
