"""The chat service (placeholder until its issue: health answers, every RPC is UNIMPLEMENTED)."""
