"""The event path: typed ticket events, their log, bus and deliveries."""
