"""The memory domain of the GraphQL schema: the caller's conversations and their messages."""
