"""Workspaces in the GraphQL schema: members, invitations, roles and the caller's permissions."""
