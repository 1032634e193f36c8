"""Identity in the GraphQL schema: sign-up, sign-in, sessions, the current user and API keys."""
