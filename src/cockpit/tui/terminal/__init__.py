"""What the cockpit sends to the terminal: frames cut down to the cells that changed."""
