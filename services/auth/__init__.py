"""The auth service: tenants, users, sessions (refresh tokens), API keys and the access token signing keys."""
