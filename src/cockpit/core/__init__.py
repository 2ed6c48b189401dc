"""The cockpit's core: config, backends, sources, actions and audit. Never imports Textual."""
