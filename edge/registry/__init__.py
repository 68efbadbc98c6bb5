"""Model versions on the station: every model it has had, with its card and validation record, an
append-only history, the `active` pointer (one per recipe) and the `candidate` (edge/registry/store.py).

`files` writes pointers and history so a SIGKILL never leaves half a file; `signing` is the plant key
(ed25519) that a station can require of every model; `station_model` picks the model a station starts
with. The registry sits below the pipeline: it knows files, cards and keys, never a running model.
"""

from edge.registry.store import ModelVersion, Registry, RegistryError

__all__ = ["ModelVersion", "Registry", "RegistryError"]
