"""Running the gateway as a systemd service: unit rendering and the installer's plan."""
