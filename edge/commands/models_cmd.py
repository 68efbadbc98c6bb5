"""`moldpilot models list|show|add|promote|rollback|keygen|sign`: the station's model registry
(edge/registry) from the command line.

`-c station.yaml` finds the registry (its `registry:` section). The commands change the registry's
files; a running station keeps judging with the model it loaded until it restarts (the console
promotes on the running station, between batches). Who did it is `--who`, else the login name.
"""

from __future__ import annotations

import argparse
import getpass
import json
from pathlib import Path

from edge.config import load_config
from edge.errors import ConfigError
from edge.registry import Registry, signing


def add_parser(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser("models", help="the model registry: versions, promote, roll back, signing")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    def with_config(name: str, help_text: str) -> argparse.ArgumentParser:
        p = actions.add_parser(name, help=help_text)
        p.add_argument("-c", "--config", required=True, metavar="FILE", help="station.yaml with a registry:")
        return p

    listing = with_config("list", "every version, which is active and which is the candidate")
    listing.add_argument("--json", action="store_true", help="one JSON document")
    listing.set_defaults(func=_list)
    show = with_config("show", "one version: its card, validation and history")
    show.add_argument("version")
    show.add_argument("--json", action="store_true", help="one JSON document")
    show.set_defaults(func=_show)
    add = with_config("add", "add an ONNX model (with its card, and MODEL.onnx.sig if signed)")
    add.add_argument("model", type=Path)
    add.add_argument("--note", default="", help="why this version exists")
    add.add_argument("--candidate", action="store_true", help="also make it the candidate")
    add.set_defaults(func=_add)
    promote = with_config("promote", "make a version the active one (takes effect at the station's start)")
    promote.add_argument("version")
    promote.add_argument("--recipe", type=int, default=0, help="RECIPE_ID (default 0: the model section)")
    promote.set_defaults(func=_promote)
    rollback = with_config("rollback", "back to the version active before the current one")
    rollback.add_argument("--recipe", type=int, default=0, help="RECIPE_ID (default 0: the model section)")
    rollback.set_defaults(func=_rollback)
    for p in (add, promote, rollback):
        p.add_argument("--who", default=None, help="who does it (default: the login name)")
    keygen = actions.add_parser("keygen", help="a new plant signing key pair (ed25519)")
    keygen.add_argument("--out", required=True, type=Path, metavar="KEY",
                        help="private key file (written 0600); the public key goes beside it as .pub")
    keygen.set_defaults(func=_keygen)
    sign = actions.add_parser("sign", help="sign a model file with the plant key (writes MODEL.onnx.sig)")
    sign.add_argument("model", type=Path)
    sign.add_argument("--key", required=True, type=Path, help="the private key from `models keygen`")
    sign.set_defaults(func=_sign)


def _registry(args: argparse.Namespace) -> Registry:
    config = load_config(args.config)
    if config.registry is None:
        raise ConfigError(f"{args.config} has no registry: section; add 'registry: {{path: var/registry}}'")
    return Registry(Path(config.registry.path), config.registry.trusted_keys)


def _who(args: argparse.Namespace) -> str:
    return args.who or getpass.getuser()


def _list(args: argparse.Namespace) -> int:
    registry = _registry(args)
    active, candidate = registry.active_name(), registry.candidate_name()
    rows = [{**v.summary(), "active": v.version == active, "candidate": v.version == candidate}
            for v in registry.versions()]
    if args.json:
        print(json.dumps({"registry": str(registry.root), "active": active, "candidate": candidate,
                          "versions": rows}, indent=2))
        return 0
    if not rows:
        print(f"no versions in {registry.root} yet; `moldpilot models add MODEL.onnx -c ...`")
    for r in rows:
        mark = "*" if r["active"] else ("c" if r["candidate"] else " ")
        print(f"{mark} {r['version']:<5} {r['name']:<24} {r['sha256'][:12]} "
              f"{'signed' if r['signed'] else 'unsigned':<8} added {r['added_at']} by {r['added_by']}"
              + (f"  {r['note']}" if r["note"] else ""))
    return 0


def _show(args: argparse.Namespace) -> int:
    registry = _registry(args)
    entry = registry.get(args.version)  # checked: a damaged file says so here
    doc = {**entry.summary(), "path": str(entry.path), "active": registry.active_name() == entry.version,
           "candidate": registry.candidate_name() == entry.version,
           "validation": registry.validation(entry.version),
           "card": json.loads(entry.card.to_json()),
           "history": [h for h in registry.history() if h.get("version") == entry.version]}
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    for key in ("version", "name", "created", "sha256", "signed", "classes", "threshold", "added_at",
                "added_by", "note", "path", "active", "candidate"):
        print(f"{key:<10} {doc[key]}")
    print(f"validation {json.dumps(doc['validation']) if doc['validation'] else 'none'}")
    for h in doc["history"]:
        print(f"  {h['at']} {h['action']} by {h['who']}")
    return 0


def _add(args: argparse.Namespace) -> int:
    registry = _registry(args)
    entry = registry.add(args.model, _who(args), args.note)
    if args.candidate:
        registry.set_candidate(entry.version, _who(args))
    also = " and made it the candidate" if args.candidate else ""
    print(f"added {args.model} as {entry.version} (sha256 {entry.sha256[:12]}, "
          f"{'signed' if entry.signed else 'unsigned'}){also}")
    return 0


def _promote(args: argparse.Namespace) -> int:
    entry = _registry(args).promote(args.version, _who(args), args.recipe)
    print(f"{entry.version} is now active for recipe {args.recipe}; a running station judges with it "
          "after a restart (the console's models page promotes live)")
    return 0


def _rollback(args: argparse.Namespace) -> int:
    entry = _registry(args).rollback(_who(args), args.recipe)
    print(f"rolled back: {entry.version} is active again for recipe {args.recipe}; a running station "
          "judges with it after a restart (the console's models page rolls back live)")
    return 0


def _keygen(args: argparse.Namespace) -> int:
    private, public = signing.keygen(args.out)
    print(f"private key {private} (0600: keep it off the station, with whoever approves models)")
    print(f"public key  {public} (list it in station.yaml registry.trusted_keys)")
    return 0


def _sign(args: argparse.Namespace) -> int:
    print(f"signed {args.model}: {signing.sign(args.model, args.key)}")
    return 0
