"""The Textual UI: the only UI. Holds no business logic; it drives cockpit.core."""
