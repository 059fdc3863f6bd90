"""Provider plugins: one class per ticketing platform."""
