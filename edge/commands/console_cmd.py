"""`moldpilot console passwd USER`: an argon2 hash of a console password, written into station.yaml's
`console.users` (with `-c`) or printed for pasting. The password is read without echo (or one line
from stdin with `--password-stdin`) and never printed or logged."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from edge.console.users import password_hash, set_user
from edge.errors import ConfigError


def add_parser(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser("console", help="station console helpers (users and passwords)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    passwd = actions.add_parser("passwd", help="set a console user's password (argon2 hash)")
    passwd.add_argument("user", metavar="USER")
    passwd.add_argument("--role", choices=["viewer", "engineer"], default="viewer",
                        help="viewer sees everything; engineer may also change ROIs (default viewer)")
    passwd.add_argument("-c", "--config", metavar="FILE", help="station.yaml to write the user into "
                                                               "(default: print the hash)")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    passwd.set_defaults(func=_passwd)


def _passwd(args: argparse.Namespace) -> int:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {args.user}: ")
        if getpass.getpass("again: ") != password:
            raise ConfigError("the two passwords differ; nothing written")
    hashed = password_hash(password)
    if args.config is None:
        print(hashed)
        return 0
    path = Path(args.config)
    backup = set_user(path, args.user, args.role, hashed)
    print(f"{args.user} ({args.role}) written to {path}; previous version kept as {backup.name}",
          file=sys.stderr)
    return 0
