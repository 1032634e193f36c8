"""GraphQL chat: the `chat` subscription, `sendMessage` and `cancelChat`."""
