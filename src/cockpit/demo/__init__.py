"""The bundled demo service (modelled on techno-os-backend) and its runbook operations.

``python -m cockpit.demo serve`` runs the service; every other sub-command is an
operation (``start``, ``stop``, ``smoke-test``, ...) that the demo profile's actions call.
"""
