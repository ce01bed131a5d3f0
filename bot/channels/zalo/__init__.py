"""The Zalo Bot Platform channel (bots made with Zalo Bot Creator): a Telegram-like HTTP API without buttons."""
