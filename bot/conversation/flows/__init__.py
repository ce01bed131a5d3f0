"""One module per conversation flow; each reads the stored state, takes one event, returns replies."""
