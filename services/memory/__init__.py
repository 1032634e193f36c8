"""The memory service: conversations, their messages, and the context a chat sends to a model."""
