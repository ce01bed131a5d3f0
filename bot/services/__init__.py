"""Domain services: what staff and the scheduler do, the same from the CLI, the web console or a bot command."""
