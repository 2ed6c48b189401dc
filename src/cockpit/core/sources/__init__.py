"""What the cockpit watches: health probes, log followers, the audit log and metrics.

Import the modules directly (``cockpit.core.sources.health`` ...); this package does
not import them eagerly, so using one source never pays for another's dependencies.
Every source is async, bounded by its timeout, and reports failures as results.
"""
