"""The doors into doithoai: the bot processes and their wiring, the workers, the scheduler, the command line, the web console and the demo."""
