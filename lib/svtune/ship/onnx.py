"""The fast CPU copies of a bundle's model: ONNX (torch.onnx.export) and dynamic int8 (onnxruntime),
written where sentence-transformers' ONNX backend looks for them, and kept only where held-out
MRR@10 drops by at most MRR_LOSS_MAX (ship/speed.py measures).

They serve only where sentence-transformers has `backend="onnx"` (>= 3.2, with optimum-onnx;
tests/test_trust_ship.py loads them so in scripts/onnx_venv.sh's venv). Data Commons' NL server
(sentence-transformers 2.7.0) cannot use them: it loads model/ in PyTorch."""

from __future__ import annotations

import warnings
from pathlib import Path

from svtune.ship import speed
from svtune.ship.convert import ExportError

MRR_LOSS_MAX = 0.005


def int8_name() -> str:
    """The file name sentence-transformers gives a dynamic int8 model for this machine's CPU."""
    import platform
    if platform.machine().lower() in ("arm64", "aarch64"):
        return "model_qint8_arm64.onnx"
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    return "model_qint8_avx512_vnni.onnx" if "avx512_vnni" in flags else "model_qint8_avx2.onnx"


def export_onnx(model, folder: Path, int8: bool) -> list[Path]:
    """model.onnx (the transformer: input ids -> last_hidden_state, as optimum lays it out) and, with
    `int8`, its dynamically quantised copy, in `folder`."""
    import torch
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError:
        raise ExportError("--onnx/--int8 need onnxruntime and onnx: pip install -e '.[serve]'") from None
    features = {k: v for k, v in model.preprocess(["a sentence to trace", "two"]).items() if k != "modality"}
    names = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in features]

    class Wrapped(torch.nn.Module):   # positional inputs in `names` order, the one output optimum names
        def __init__(self):
            super().__init__()
            self.auto_model = model[0].auto_model   # a submodule: its weights export as initializers

        def forward(self, *args):
            return self.auto_model(**dict(zip(names, args))).last_hidden_state

    folder.mkdir(parents=True)
    files = [folder / "model.onnx"]
    axes = {n: {0: "batch", 1: "sequence"} for n in [*names, "last_hidden_state"]}
    with warnings.catch_warnings():   # the tracer warns on shape checks that are constant for an encoder
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        # The TorchScript exporter: the dynamo one needs onnxscript and explicit dynamic shapes.
        torch.onnx.export(Wrapped().eval(), tuple(features[k] for k in names), str(files[0]), input_names=names,
                          output_names=["last_hidden_state"], dynamic_axes=axes, opset_version=17, dynamo=False)
    if int8:
        files.append(folder / int8_name())
        quantize_dynamic(str(files[0]), str(files[1]), weight_type=QuantType.QInt8)
    return files


def _decide(loss: float | None, wanted: bool) -> tuple[bool, str]:
    if not wanted:
        return False, "not asked for (only the int8 copy was)"
    if loss is None:
        return False, "dropped: no held-out MRR@10 to compare it on"
    if loss > MRR_LOSS_MAX:
        return False, f"dropped: MRR@10 loss {loss:+.4f} > {MRR_LOSS_MAX}"
    return True, f"kept: MRR@10 loss {loss:+.4f} <= {MRR_LOSS_MAX}"


def add_onnx(run: Path, model, folder: Path, onnx: bool, int8: bool, queries: list, rows: list,
             pairs=(), threshold: float | None = None) -> dict:
    """Write the ONNX copies, measure them on the held-out `queries` over the index `rows` (and `pairs`,
    answered@10 at `threshold`; speed.py) and delete each that loses more than MRR_LOSS_MAX."""
    files = export_onnx(model, folder, int8)
    figures = speed.measure(run / "model", folder, queries, speed.synthetic_texts(), rows, pairs, threshold)
    for f in files:
        entry = figures[f.stem]
        entry["kept"], entry["decision"] = _decide(entry.get("mrr_loss"), onnx if f.name == "model.onnx" else int8)
        if not entry["kept"]:
            f.unlink()
    if not any(folder.iterdir()):
        folder.rmdir()
    return figures




