"""Runbook actions: parameter validation, policy, and running one action with its audit record."""
