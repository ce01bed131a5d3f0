"""The channel-agnostic conversation: events in, replies out, state in the database."""
