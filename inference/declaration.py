"""Model declarations: a TOML file next to each .tflite that says how to feed and decode it.

A new model is a file plus a declaration, not new code::

    name = "person"
    file = "pose_detection.tflite"
    sha256 = "9ba9..."            # verified at load; a mismatch refuses the model
    labels = ["person"]

    [input]
    resize = "letterbox"          # letterbox (pad to square, keep aspect) | stretch
    color = "rgb"                 # channel order the model was trained on
    range = [-1.0, 1.0]           # float models: pixel 0..255 mapped linearly onto this

    [decoder]
    kind = "mediapipe_anchors"    # or "ssd" (post-processed boxes/classes/scores/count)
    ...                           # decoder-specific keys, see inference/decoders/

Shipped models live in ``inference/models/`` and are addressed by short name
(``person``, ``face``, ``face-short``); anything else is a path to a .toml (or to a
.tflite with a .toml of the same stem beside it).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inference.errors import N_, ModelError

MODELS_DIR = Path(__file__).resolve().parent / "models"


def _load_toml(path: Path) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ModelError(path, N_("cannot read model declaration ({value})"), value=exc.strerror or exc) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ModelError(path, N_("invalid TOML in model declaration ({error})"), error=exc) from exc


@dataclass(frozen=True)
class InputSpec:
    resize: str = "letterbox"
    color: str = "rgb"
    range: tuple[float, float] = (0.0, 1.0)


@dataclass(frozen=True)
class ModelDeclaration:
    name: str
    declaration: Path
    file: Path
    sha256: str | None
    labels: tuple[str, ...]
    input: InputSpec
    decoder: dict[str, Any]
    description: str = ""
    license: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def verify(self) -> None:
        """Refuse a model whose bytes differ from the declared checksum (a truncated copy,
        a swapped file): a wrong model would count wrong numbers that get signed."""
        if not self.file.is_file():
            raise ModelError(self.file, N_("model file not found (declared in {declaration})"),
                                        declaration=self.declaration)
        if self.sha256 is None:
            return
        h = hashlib.sha256()
        try:
            with self.file.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
        except OSError as exc:
            raise ModelError(self.file, N_("cannot read model file ({value})"), value=exc.strerror or exc) from exc
        if h.hexdigest() != self.sha256.lower():
            raise ModelError(self.file, N_("sha256 {value} does not match the declared {sha256} in {declaration}"),
                                        value=h.hexdigest(), sha256=self.sha256, declaration=self.declaration)


def shipped_models() -> dict[str, Path]:
    """Short name -> declaration path for every model shipped in inference/models/."""
    return {p.stem: p for p in sorted(MODELS_DIR.glob("*.toml"))}


def load_declaration(path: str | Path) -> ModelDeclaration:
    path = Path(path)
    raw = _load_toml(path)

    def need(key: str, kind: type) -> Any:
        if key not in raw:
            raise ModelError(path, N_("declaration needs key {key}"), key=f'{key!r}')
        if not isinstance(raw[key], kind):
            raise ModelError(path, N_("key {key} must be a {type}"), key=f'{key!r}', type=kind.__name__)
        return raw[key]

    name = need("name", str)
    file = path.parent / need("file", str)
    decoder = need("decoder", dict)
    if not isinstance(decoder.get("kind"), str):
        raise ModelError(path, N_("[decoder] needs kind = \"ssd\" | \"mediapipe_anchors\" | ..."))
    inp = raw.get("input", {})
    if not isinstance(inp, dict):
        raise ModelError(path, N_("[input] must be a table"))
    unknown = set(inp) - {"resize", "color", "range"}
    if unknown:
        raise ModelError(path, N_("unknown keys in [input]: {unknown}"), unknown=sorted(unknown))
    resize = inp.get("resize", "letterbox")
    color = inp.get("color", "rgb")
    rng = inp.get("range", [0.0, 1.0])
    if resize not in ("letterbox", "stretch"):
        raise ModelError(path, N_("input.resize must be letterbox or stretch, found {resize}"), resize=f'{resize!r}')
    if color not in ("rgb", "bgr"):
        raise ModelError(path, N_("input.color must be rgb or bgr, found {color}"), color=f'{color!r}')
    if not (isinstance(rng, list) and len(rng) == 2 and all(isinstance(v, int | float) for v in rng)):
        raise ModelError(path, N_("input.range must be [low, high], found {rng}"), rng=f'{rng!r}')
    labels = raw.get("labels", ["object"])
    sha = raw.get("sha256")
    if sha is not None and not (isinstance(sha, str) and len(sha) == 64):
        raise ModelError(path, N_("sha256 must be 64 hex digits"))
    known = {"name", "file", "sha256", "labels", "input", "decoder", "description", "license"}
    return ModelDeclaration(name=name, declaration=path, file=file, sha256=sha,
                            labels=tuple(str(x) for x in labels),
                            input=InputSpec(resize, color, (float(rng[0]), float(rng[1]))),
                            decoder=dict(decoder), description=str(raw.get("description", "")),
                            license=str(raw.get("license", "")),
                            extra={k: v for k, v in raw.items() if k not in known})


def resolve(name_or_path: str | Path) -> ModelDeclaration:
    """A short name of a shipped model, a .toml declaration, or a .tflite with a sibling .toml."""
    s = str(name_or_path)
    shipped = shipped_models()
    if s in shipped:
        return load_declaration(shipped[s])
    p = Path(s)
    if p.suffix == ".toml":
        return load_declaration(p)
    if p.suffix == ".tflite":
        decl = p.with_suffix(".toml")
        if decl.is_file():
            d = load_declaration(decl)
            if d.file.resolve() != p.resolve():
                raise ModelError(decl, N_("declares file {name}, not {name2}"),
                                       name=f'{d.file.name!r}', name2=f'{p.name!r}')
            return d
        raise ModelError(p, N_("no declaration {name} beside the model: a model needs a TOML declaration saying how "
                               "to decode it (see docs/vision.md)"), name=decl.name)
    raise ModelError(s, N_("unknown model: use one of {shipped} or 'motion', or a path to a .toml declaration"),
                        shipped=sorted(shipped))
