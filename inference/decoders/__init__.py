"""Decoders turn a model's raw output tensors into detections.

Which decoder a model uses, and its parameters, are declared in the model's TOML
(``[decoder] kind = ...``), so adding a model of a known family needs no code. A
decoder returns boxes in *normalised coordinates of the model input* (0..1 over the
square or stretched input); the detector maps them back to frame pixels, because
only it knows how the frame was letterboxed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Protocol

from inference.errors import N_, ModelError

if TYPE_CHECKING:
    from inference.declaration import ModelDeclaration
    from inference.geometry import Detection
    from inference.runtime import TensorInfo

# kind -> module under inference.decoders exposing ``Decoder``
KINDS = {"ssd": "ssd", "mediapipe_anchors": "mediapipe_anchors"}


class Decoder(Protocol):
    def decode(self, outputs: list[Any]) -> list[Detection]: ...


def make_decoder(decl: ModelDeclaration, input_size: tuple[int, int], outputs: list[TensorInfo]) -> Decoder:
    """The declared decoder, checked against the model's real input size and outputs."""
    kind = decl.decoder["kind"]
    if kind not in KINDS:
        raise ModelError(decl.declaration, N_("decoder.kind must be one of {KINDS}, found {kind}"),
                                           KINDS=sorted(KINDS), kind=f'{kind!r}')
    mod = importlib.import_module(f"inference.decoders.{KINDS[kind]}")
    return mod.Decoder(decl, input_size, outputs)


def output_index(decl: ModelDeclaration, outputs: list[TensorInfo], key: str, default: int) -> int:
    """An output named in the declaration by position (int) or tensor name (str)."""
    want = decl.decoder.get(key, default)
    if isinstance(want, int) and not isinstance(want, bool):
        if not 0 <= want < len(outputs):
            raise ModelError(decl.declaration, N_("decoder.{key} = {want}: the model has {n_outputs} outputs"),
                                               key=key, want=want, n_outputs=len(outputs))
        return want
    for i, o in enumerate(outputs):
        if o.name == want:
            return i
    raise ModelError(decl.declaration, N_("decoder.{key} = {want}: no output of that name in {value}"),
                                       key=key, want=f'{want!r}', value=[o.name for o in outputs])


def check_keys(decl: ModelDeclaration, allowed: set[str]) -> None:
    unknown = set(decl.decoder) - allowed - {"kind"}
    if unknown:
        raise ModelError(decl.declaration, N_("unknown keys in [decoder]: {unknown} (allowed: {allowed})"),
                                           unknown=sorted(unknown), allowed=sorted(allowed))
