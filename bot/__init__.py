"""doithoai: the conversation core, the channel adapters, the services and the command line."""
