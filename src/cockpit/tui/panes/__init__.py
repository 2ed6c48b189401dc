"""The cockpit's panes: Health, Logs, Audit, Metrics, Runs. One module each."""
