"""Command-line interface: one module per command or group; each binds flags and calls the core."""
