"""The agent loop and the hermes tool-call protocol."""
