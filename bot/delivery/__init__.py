"""Outbound delivery: the only code that sends to platforms, always from the outbox table."""
