"""The plant's signing key: ed25519 through `cryptography`.

The card's sha256 tells a damaged model from a good one, but anybody can write a card: a forged model
carries a matching hash. A signature made with the plant's private key (kept off the station, with
whoever approves models) over the model file's bytes says who approved this exact file. A registry with
`trusted_keys` (the public halves) accepts only models whose `MODEL.onnx.sig` one of them verifies.

Files: the private key is PKCS#8 PEM, written 0600 and never into the registry; the public key is
SubjectPublicKeyInfo PEM (`plant.pub`); a signature is its 64 bytes in base64 on one line.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from edge.errors import ModelError

SIG_SUFFIX = ".sig"


def signature_path(model_path: Path) -> Path:
    """MODEL.onnx -> MODEL.onnx.sig."""
    return model_path.with_name(model_path.name + SIG_SUFFIX)


def keygen(private_path: Path) -> tuple[Path, Path]:
    """A new key pair: `private_path` (0600, refused if it exists) and the public key beside it with
    the suffix `.pub`. Returns (private, public)."""
    public_path = private_path.with_suffix(".pub")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    try:
        fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ModelError(f"{private_path} exists; keep the plant's key, or choose another --out") from None
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    public_path.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                          serialization.PublicFormat.SubjectPublicKeyInfo))
    return private_path, public_path


def sign(model_path: Path, private_path: Path) -> Path:
    """Write MODEL.onnx.sig over the model file's bytes with the private key; returns its path."""
    try:
        key = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ModelError(f"cannot use {private_path} as a signing key ({exc}); make one with "
                         "`moldpilot models keygen --out plant.key`") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ModelError(f"{private_path} is not an ed25519 key; make one with `moldpilot models keygen`")
    try:
        data = model_path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read model {model_path}: {exc.strerror}") from None
    out = signature_path(model_path)
    out.write_text(base64.b64encode(key.sign(data)).decode("ascii") + "\n", encoding="ascii")
    return out


def load_public_keys(paths: Sequence[Path]) -> list[tuple[Path, Ed25519PublicKey]]:
    """The trusted public keys; a file that is not an ed25519 public key is a ModelError naming it."""
    keys = []
    for path in paths:
        try:
            key = serialization.load_pem_public_key(Path(path).read_bytes())
        except (OSError, ValueError) as exc:
            raise ModelError(f"trusted key {path} cannot be read as a PEM public key ({exc}); point "
                             "registry.trusted_keys at the plant.pub of `moldpilot models keygen`") from None
        if not isinstance(key, Ed25519PublicKey):
            raise ModelError(f"trusted key {path} is not an ed25519 public key")
        keys.append((Path(path), key))
    return keys


def verify(data: bytes, sig_path: Path, keys: Sequence[tuple[Path, Ed25519PublicKey]], what: str) -> Path:
    """The key file whose key verifies `data` against the signature at `sig_path`; a ModelError that
    says which file, which keys and how to fix otherwise."""
    names = ", ".join(str(p) for p, _ in keys)
    fix = "sign it with the plant key: `moldpilot models sign MODEL.onnx --key plant.key`"
    try:
        signature = base64.b64decode(sig_path.read_text(encoding="ascii").strip(), validate=True)
    except FileNotFoundError:
        raise ModelError(f"{what} is not signed ({sig_path.name} missing) and this registry accepts only "
                         f"models signed with a trusted key ({names}); {fix}") from None
    except (OSError, ValueError, binascii.Error) as exc:
        raise ModelError(f"signature {sig_path} of {what} is unreadable ({exc}); {fix}") from None
    for path, key in keys:
        try:
            key.verify(signature, data)
            return path
        except InvalidSignature:
            continue
    raise ModelError(f"{what}: its signature {sig_path.name} does not match any trusted key ({names}): "
                     f"the file was changed after signing or signed with another key; {fix}")
