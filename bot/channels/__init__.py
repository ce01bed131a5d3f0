"""Channel adapters: turn platform updates into core events and core replies into platform calls."""
