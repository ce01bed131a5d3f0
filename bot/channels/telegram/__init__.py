"""Telegram: the Bot API client, updates read from its JSON, the runner and the transport."""
