"""The workspace service: workspaces, members, invitations, roles and permission checks."""
