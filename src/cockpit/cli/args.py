"""Arguments shared by several commands, declared once."""

from __future__ import annotations

import argparse


def add_profile(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    """``--profile``; sub-commands use SUPPRESS so they never overwrite a value given
    before the command."""
    parser.add_argument(
        "--profile",
        "-P",
        default=None if top else argparse.SUPPRESS,
        help="profile name or path (default: $COCKPIT_PROFILE or 'demo')",
    )


def add_read_only(parser: argparse.ArgumentParser, *, top: bool = False,
                  what: str = "action") -> None:
    parser.add_argument(
        "--read-only",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help=f"deny every {what} that is not safe",
    )


def add_params(parser: argparse.ArgumentParser, *, confirm_help: str) -> None:
    """``-p KEY=VALUE`` (repeatable) and ``--yes``."""
    parser.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a parameter value; repeat for more",
    )
    parser.add_argument("--yes", "-y", action="store_true", help=confirm_help)
