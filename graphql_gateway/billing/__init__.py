"""The billing domain of the GraphQL schema: a workspace's quota and monthly usage."""
