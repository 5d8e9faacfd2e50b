"""What one forward of a model costs, counted from the operators it dispatches: FLOPs, bytes moved
and operator calls. The roofline (`analysis/roofline.py`) divides the first two by the measured
ceilings; the third carries the per-call dispatch overhead that dominates small models on cpu.

The convention, one for every row and prediction:
- FLOPs are `torch.utils.flop_counter`'s: a multiply-add is 2 FLOPs, counted for matrix products
  (mm, addmm, bmm, baddbmm, linear through them), convolutions and fused attention; elementwise
  operators, softmax and norms count 0. The models are built with eager attention
  (`build.build_config`), so attention's score and value products are plain matrix products.
  Mixture-of-experts layers run `aten._grouped_mm`, which the library does not count: each row of
  its (M, K) input is one routed copy of a token multiplied by one expert's (K, N) weight, so it
  counts 2 × M × K × N, whichever experts the router chose.
- Bytes are the unfused upper bound: every dispatched operator reads each tensor it takes and
  writes each tensor it returns, weights included each time they are read. Views move nothing and
  count 0 bytes.
- Ops are the operators dispatched to ATen, views included: each is one call's overhead.

A count that cannot be made (a forward that fails, no matrix product found) has a reason and no
numbers, never a zero.
"""

from __future__ import annotations

from dataclasses import dataclass

FLOP_CONVENTION = "2 FLOPs per multiply-add of matrix products, convolutions and attention (torch.utils.flop_counter)"


@dataclass(frozen=True)
class ForwardCount:
    flops: float | None
    bytes: float | None
    ops: int | None
    reason: str | None = None  # why there are no numbers

    @classmethod
    def failed(cls, reason: str) -> ForwardCount:
        return cls(None, None, None, reason[:500])

    def fields(self) -> dict:
        """The `benchmark_results` columns of this count."""
        return {"flops": self.flops, "bytes": self.bytes, "ops": self.ops, "count_reason": self.reason}


def _grouped_mm_flops(input_shape, weight_shape, *args, out_shape=None, **kwargs) -> int:
    """2 × M × K × N: every one of the M routed token rows meets one expert's (K, N) weight."""
    return 2 * input_shape[0] * input_shape[-1] * weight_shape[-1]


def _grouped_mm_ops() -> list:
    import torch

    return [op for name in ("_grouped_mm", "grouped_mm") if (op := getattr(torch.ops.aten, name, None)) is not None]


def _traffic_counter():
    """A dispatch mode that counts operator calls and the bytes of their tensor inputs and outputs."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves

    grouped = set(_grouped_mm_ops())

    class TrafficCounter(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.ops, self.bytes = 0, 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if func.overloadpacket in grouped and args[0].device.type == "meta":
                # The meta kernel accepts only bfloat16 (cpu runs float32): the shape is all a count needs.
                out = args[0].new_empty((args[0].shape[0], args[1].shape[-1]), dtype=args[1].dtype)
            else:
                out = func(*args, **kwargs)
            self.ops += 1
            if not func.is_view:
                self.bytes += sum(
                    leaf.numel() * leaf.element_size()
                    for leaf in tree_leaves((args, kwargs, out))
                    if isinstance(leaf, torch.Tensor)
                )
            return out

    return TrafficCounter()


def count_forward(model, inputs: dict) -> ForwardCount:
    """FLOPs, bytes and ops of `model(**inputs)`, on whatever device both live (meta included)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    flop_counter = FlopCounterMode(display=False, custom_mapping=dict.fromkeys(_grouped_mm_ops(), _grouped_mm_flops))
    traffic = _traffic_counter()
    # The flop counter's module tracker hooks the gradient of every input that requires one, which
    # breaks a weight-norm parametrisation (wav2vec2's positional conv) even in inference mode.
    requiring = [parameter for parameter in model.parameters() if parameter.requires_grad]
    try:
        for parameter in requiring:
            parameter.requires_grad_(False)
        with torch.inference_mode(), traffic, flop_counter:
            model(**inputs)
    except Exception as error:  # the count is a by-product: its failure is a reason, never a crash
        return ForwardCount.failed(f"counting failed: {type(error).__name__}: {error}")
    finally:
        for parameter in requiring:
            parameter.requires_grad_(True)
    flops = flop_counter.get_total_flops()
    if not flops:
        return ForwardCount.failed("no matrix product or convolution was counted")
    return ForwardCount(float(flops), float(traffic.bytes), traffic.ops)


def count_on_meta(info, size: str, batch_size: int, seq_len: int, dtype: str = "float32") -> ForwardCount:
    """The count of a forward of `build_model(info, size)` built on the meta device: full sizes
    are counted without allocating them. Raises what building or the inputs raise; a forward
    that needs real values (`.item()`, weight-norm parametrisations) fails on meta."""
    import torch

    from mlperf_pipeline.skillsets.runtime.build import _config_for_class, build_config, model_class, torch_dtype
    from mlperf_pipeline.skillsets.runtime.inputs import make_inputs

    config = _config_for_class(model_class(info), build_config(info, size))
    with torch.device("meta"):
        model = model_class(info)._from_config(config, dtype=torch_dtype(dtype)).eval()
    return count_forward(model, make_inputs(model, info, batch_size, seq_len, "meta", dtype))


# A model whose forward needs real values on the meta device is counted on real cpu tensors up to
# this many parameters (4 GB in float32); a larger one keeps the reason.
REAL_COUNT_MAX_PARAMS = 1_000_000_000
COUNTING_VERSION = "1"  # bumped when the convention changes: stored counts are then counted again


def count_workload(info, size: str, batch_size: int, seq_len: int) -> ForwardCount:
    """The count of one float32 forward, without allocating a full-size model where possible.

    On the meta device first. A forward that needs real values there (bert and t5 ask an all-ones
    attention mask `.all()`) is counted again without the mask: an all-ones mask changes nothing but
    the mask's own elementwise operators (no FLOPs, a few bytes). Failing that, on real cpu tensors,
    for a model of at most REAL_COUNT_MAX_PARAMS parameters."""
    from mlperf_pipeline.skillsets.runtime.build import build_model, count_parameters_on_meta
    from mlperf_pipeline.skillsets.runtime.inputs import make_inputs

    try:
        count = count_on_meta(info, size, batch_size, seq_len)
        if count.reason and "meta tensors" in count.reason:
            count = _without_mask(info, size, batch_size, seq_len) or count
        if count.reason is None:
            return count
        if count_parameters_on_meta(info, size) > REAL_COUNT_MAX_PARAMS:
            return count
        model = build_model(info, size)
        return count_forward(model, make_inputs(model, info, batch_size, seq_len, "cpu", "float32"))
    except Exception as error:  # building or the inputs failed: the type cannot be counted
        return ForwardCount.failed(f"counting failed: {type(error).__name__}: {error}")


def _without_mask(info, size: str, batch_size: int, seq_len: int) -> ForwardCount | None:
    import torch

    from mlperf_pipeline.skillsets.runtime.build import _config_for_class, build_config, model_class
    from mlperf_pipeline.skillsets.runtime.inputs import make_inputs

    config = _config_for_class(model_class(info), build_config(info, size))
    with torch.device("meta"):
        model = model_class(info)._from_config(config).eval()
    inputs = make_inputs(model, info, batch_size, seq_len, "meta", "float32")
    if "attention_mask" not in inputs:
        return None
    inputs.pop("attention_mask")
    count = count_forward(model, inputs)
    return count if count.reason is None else None


def count_grid(item: dict) -> dict:
    """In an isolated process: the counts of one model type at one size for each batch of `item`
    (`info`: a `SkillsetInfo`'s fields, or `skillset_path`: a generated module whose INFO to use)."""
    from mlperf_pipeline.skillsets.runtime.build import SkillsetInfo, count_parameters_on_meta

    if item.get("skillset_path"):
        from pathlib import Path

        from mlperf_pipeline.skillsets.runtime.loading import load_skillset_module

        info = load_skillset_module(Path(item["skillset_path"])).INFO
    else:
        info = SkillsetInfo(**item["info"])
    counts = {
        str(batch): count_workload(info, item["size"], batch, item["seq_len"]).fields() for batch in item["batches"]
    }
    try:
        params = count_parameters_on_meta(info, item["size"])
    except Exception:
        params = None
    return {"status": "ok", "counts": counts, "params": params}
