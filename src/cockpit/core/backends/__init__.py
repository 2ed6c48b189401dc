"""Environment backends: one protocol (``base.Backend``), one module per kind."""
