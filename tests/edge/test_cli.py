"""The CLI contract: --version, --help on every verb, user errors exit 2 with one line."""

from __future__ import annotations

import argparse
import subprocess
import sys

from edge import __version__
from edge.cli import build_parser


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", *args], capture_output=True, text=True, check=False
    )


def all_verb_paths(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                paths.append((*prefix, name))
                paths.extend(all_verb_paths(sub, (*prefix, name)))
    return paths


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"moldpilot {__version__}"


def test_every_verb_has_help() -> None:
    paths = all_verb_paths(build_parser())
    assert ("config", "check") in paths
    for path in paths:
        parser = build_parser()
        try:
            parser.parse_args([*path, "--help"])
        except SystemExit as exit_:
            assert exit_.code == 0, path


def test_every_verb_parses_on_a_station_installed_without_the_dev_dependencies() -> None:
    """deploy/install.sh installs no dev extras, so no selenium: the CLI must not import it to start."""
    hide_selenium = ("import sys; sys.modules['selenium'] = None; from edge.cli import main; "
                     "sys.argv = ['moldpilot', 'bench', '--help']; main()")
    result = subprocess.run([sys.executable, "-c", hide_selenium], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert "--console-only" in result.stdout


def test_unknown_verb_is_a_user_error() -> None:
    result = run_cli("frobnicate")
    assert result.returncode == 2 and "invalid choice" in result.stderr
