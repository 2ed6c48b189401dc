"""The headless CLI: the same core as the TUI, for scripts, CI and slow links."""
