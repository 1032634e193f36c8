"""The public GraphQL gateway: authenticates callers, calls the services over gRPC, shapes GraphQL."""
