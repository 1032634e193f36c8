"""The model service (placeholder until its issue: health answers, every RPC is UNIMPLEMENTED)."""
