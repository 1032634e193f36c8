"""The audit log in the GraphQL schema, and its CSV export route."""
