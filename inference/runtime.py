"""The TFLite interpreter, whichever runtime is installed.

``tflite_runtime`` is preferred when present *and usable* (it is what some Jetson/Coral
images ship), else ``ai_edge_litert`` (the declared dependency of the ``vision`` extra).
tflite-runtime 2.14 is built against NumPy 1.x and every Interpreter fails under NumPy 2,
so under NumPy 2 it is skipped rather than failing later with an obscure error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inference.errors import N_, ModelError


def interpreter_class() -> tuple[type, str]:
    """Return (Interpreter class, runtime name). Raises ModelError if no runtime is installed."""
    import numpy as np

    if int(np.__version__.split(".")[0]) < 2:
        try:
            from tflite_runtime.interpreter import Interpreter  # type: ignore[import-not-found]

            return Interpreter, "tflite_runtime"
        except ImportError:
            pass
    try:
        from ai_edge_litert.interpreter import Interpreter  # type: ignore[import-not-found]
    except ImportError as exc:
        raise ModelError("(runtime)", N_("no TFLite runtime installed: pip install 'edgeproof[vision]' "
                                         "(ai-edge-litert)")) from exc
    return Interpreter, "ai_edge_litert"


@dataclass(frozen=True)
class TensorInfo:
    """What the model says about one tensor; quantisation is (scale, zero_point), (0, 0) if float."""

    name: str
    index: int
    shape: tuple[int, ...]
    dtype: str
    scale: float
    zero_point: int

    @property
    def quantized(self) -> bool:
        return self.scale != 0.0


def _tensor_info(d: dict[str, Any]) -> TensorInfo:
    scale, zp = d.get("quantization", (0.0, 0)) or (0.0, 0)
    return TensorInfo(name=str(d["name"]), index=int(d["index"]), shape=tuple(int(x) for x in d["shape"]),
                      dtype=getattr(d["dtype"], "__name__", str(d["dtype"])), scale=float(scale),
                      zero_point=int(zp))


class TFLiteModel:
    """A loaded interpreter plus what was learnt by inspecting it.

    Input size, dtype and quantisation are read from the model, never assumed, so a
    quantised (uint8/int8) model and a float model go through the same code.
    """

    def __init__(self, path: str | Path, threads: int = 2) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelError(self.path, N_("model file not found"))
        if not os.access(self.path, os.R_OK):
            raise ModelError(self.path, N_("model file is not readable (permissions)"))
        cls, self.runtime = interpreter_class()
        self.threads = max(1, int(threads))
        try:
            self.interpreter = cls(model_path=str(self.path), num_threads=self.threads)
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelError(self.path, N_("not a usable TFLite model ({error})"), error=exc) from exc
        ins = self.interpreter.get_input_details()
        if len(ins) != 1:
            raise ModelError(self.path, N_("expected one input tensor, found {n_ins}"), n_ins=len(ins))
        self.input = _tensor_info(ins[0])
        if len(self.input.shape) != 4 or self.input.shape[0] != 1:
            raise ModelError(self.path, N_("expected an input of shape [1,H,W,C], found {shape}"),
                                        shape=list(self.input.shape))
        self.outputs = [_tensor_info(d) for d in self.interpreter.get_output_details()]

    @property
    def input_size(self) -> tuple[int, int]:
        """(width, height) the model expects."""
        return self.input.shape[2], self.input.shape[1]

    def run(self, tensor: Any) -> list[Any]:
        """Invoke on one prepared input (already [1,H,W,C] of the input dtype); outputs are
        dequantised to float32 so decoders never care how the model was quantised."""
        import numpy as np

        it = self.interpreter
        it.set_tensor(self.input.index, tensor)
        it.invoke()
        outs = []
        for o in self.outputs:
            arr = it.get_tensor(o.index)
            if o.quantized:
                arr = (arr.astype(np.float32) - o.zero_point) * o.scale
            outs.append(np.asarray(arr, dtype=np.float32))
        return outs

    def describe(self) -> dict[str, Any]:
        return {"file": str(self.path), "runtime": self.runtime, "threads": self.threads,
                "input": {"shape": list(self.input.shape), "dtype": self.input.dtype,
                          "quantization": [self.input.scale, self.input.zero_point]},
                "outputs": [{"name": o.name, "shape": list(o.shape), "dtype": o.dtype} for o in self.outputs]}
