"""Adapters that talk to model providers (OpenAI-compatible, Anthropic, Ollama), shared by the services that
call them (chat for turns, model for Ollama installs). Imports no service package."""
