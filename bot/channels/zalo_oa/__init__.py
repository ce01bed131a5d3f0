"""The Zalo Official Account channel (Open API v3): webhook events in, customer-service messages out."""
