"""Custom widgets shared by the panes."""
