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

import math
from dataclasses import dataclass, field, replace

FLOP_CONVENTION = "2 FLOPs per multiply-add of matrix products, convolutions and attention (torch.utils.flop_counter)"


@dataclass(frozen=True)
class ForwardCount:
    flops: float | None
    bytes: float | None
    ops: int | None
    reason: str | None = None  # why there are no numbers
    # meta, meta without mask, cpu, cpu extrapolated or cpu by depth (not stored)
    path: str = field(default="meta", compare=False)

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


def _class_config(info, size: str):
    """The config `build_model(info, size)` builds from (a tower class's own sub-config)."""
    from mlperf_pipeline.skillsets.runtime.build import _config_for_class, build_config, model_class

    return _config_for_class(model_class(info), build_config(info, size))


def _meta_model(info, size: str, dtype: str = "float32", config=None):
    """`build_model(info, size)` (or from `config`) on the meta device: a full size without allocating it."""
    import torch

    from mlperf_pipeline.skillsets.runtime.build import model_class, torch_dtype

    config = _class_config(info, size) if config is None else config
    with torch.device("meta"):
        return model_class(info)._from_config(config, dtype=torch_dtype(dtype)).eval()


def count_on_meta(info, size: str, batch_size: int, seq_len: int, dtype: str = "float32") -> ForwardCount:
    """The count of a forward of `build_model(info, size)` built on the meta device: full sizes
    are counted without allocating them. Raises what building or the inputs raise; a forward
    that needs real values (`.item()`, weight-norm parametrisations) fails on meta."""
    from mlperf_pipeline.skillsets.runtime.inputs import make_inputs

    model = _meta_model(info, size, dtype)
    return count_forward(model, make_inputs(model, info, batch_size, seq_len, "meta", dtype))


# A model whose forward needs real values on the meta device is counted on real cpu tensors up to
# this many parameters (4 GB in float32); a larger one keeps the reason.
REAL_COUNT_MAX_PARAMS = 1_000_000_000
# On real cpu tensors a forward costs real time: a full-size model of ~1 B parameters at batch 32
# takes about a minute here. Its counts grow linearly with the batch (the same operators over a
# batch dimension: FLOPs and activation bytes per sample, weights and operator calls once), so a
# batch above the last of these is counted at both and extrapolated along their line. Not from
# batch 1: there some models take fast paths that skip a few operators and copies (gpt2, bert, t5
# and vit count 2-17% fewer bytes and up to 57% fewer operators per sample); from 2 and 4 the
# line gives batch 8 and 32 exactly (`test_counting.py`).
EXTRAPOLATE_FROM = (2, 4)
# The same holds for the depth (`depth.py`): a model deeper than these together is built and
# counted on real cpu tensors at each of them, and its counts at its own depth are on the line
# through the first two. The third checks that line (a repeating pattern of one or two kinds of
# layer keeps the counts on it); where it does not hold, the config places layers by index past
# the first two, or a shallow count fails, the whole model is counted. A 24-layer model then builds
# and runs 12 layers instead of 24, a 48-layer one 12 instead of 48, and one above
# REAL_COUNT_MAX_PARAMS whose deepest cut is below it is counted. A model of 12 layers or fewer
# gains nothing from 2 + 4 + 6 and is counted whole.
COUNT_DEPTHS = (2, 4, 6)
COUNTING_VERSION = "2"  # bumped when the convention changes: stored counts are then counted again


def count_workloads(
    info, size: str, batches, seq_len: int, by_depth: bool = True
) -> tuple[dict[int, ForwardCount], int | None]:
    """The count of one float32 forward at each batch size, without allocating a full-size model
    where possible, each model built once for all the batches.

    On the meta device first. A forward that needs real values there (bert and t5 ask an all-ones
    attention mask `.all()`) is counted again without the mask: an all-ones mask changes nothing but
    the mask's own elementwise operators (no FLOPs, a few bytes). Failing that, on real cpu tensors:
    cut to COUNT_DEPTHS layers and carried to its own depth where that holds (`_on_cpu_by_depth`),
    else the whole model, if it has at most REAL_COUNT_MAX_PARAMS parameters; a batch above
    EXTRAPOLATE_FROM is extrapolated from the counts at those (`_on_cpu`). `by_depth=False` counts
    the whole model (`benchmarks/counting.py`'s baseline). Also returns the parameter count
    (tied weights once), None where the model cannot be built."""
    from mlperf_pipeline.skillsets.runtime.build import build_model

    try:
        model = _meta_model(info, size)
    except Exception as error:  # the config or the class cannot be built: the type cannot be counted
        return dict.fromkeys(batches, _failed(error)), None
    params = sum(parameter.numel() for parameter in model.parameters())
    counts = {batch: _counted(model, info, batch, seq_len, "meta") for batch in batches}
    for batch, count in counts.items():
        if count.reason and "meta tensors" in count.reason:
            unmasked = _counted(model, info, batch, seq_len, "meta", without_mask=True)
            counts[batch] = replace(unmasked, path="meta without mask") if unmasked else count
    failing = [batch for batch, count in counts.items() if count.reason]
    if not failing:
        return counts, params
    shallow = _on_cpu_by_depth(info, size, failing, seq_len) if by_depth else None
    if shallow is not None:
        return {**counts, **shallow}, params
    if params > REAL_COUNT_MAX_PARAMS:
        return counts, params
    try:
        real = build_model(info, size)
    except Exception as error:
        return {**counts, **dict.fromkeys(failing, _failed(error))}, params
    return {**counts, **_on_cpu(real, info, failing, seq_len)}, params


def _on_cpu_by_depth(info, size: str, batches, seq_len: int) -> dict[int, ForwardCount] | None:
    """Counts on real cpu tensors of the model cut to each of COUNT_DEPTHS, carried to its own depth
    along the line through the first two; None where its config has no single depth deeper than
    the cuts together, places layers by index past the shallowest (`depth.layers_placed_beyond`),
    its deepest cut exceeds REAL_COUNT_MAX_PARAMS, a cut fails to build or count, or the third
    depth's counts are off that line."""
    from mlperf_pipeline.skillsets.runtime.build import build_model
    from mlperf_pipeline.skillsets.runtime.depth import at_depth, depth_of, layers_placed_beyond

    try:
        config = _class_config(info, size)
        full = depth_of(config)
        if full is None or full <= sum(COUNT_DEPTHS) or layers_placed_beyond(config, COUNT_DEPTHS[0]):
            return None
        cuts = {depth: at_depth(config, depth) for depth in COUNT_DEPTHS}
        deepest = _meta_model(info, size, config=cuts[COUNT_DEPTHS[-1]])
        if sum(parameter.numel() for parameter in deepest.parameters()) > REAL_COUNT_MAX_PARAMS:
            return None
        at = {
            depth: _on_cpu(build_model(info, size, config=cut), info, batches, seq_len) for depth, cut in cuts.items()
        }
    except Exception:  # a cut that cannot be built: the whole model is counted instead
        return None
    low, high, check = COUNT_DEPTHS
    counts = {}
    for batch in batches:
        shallow = [at[depth][batch] for depth in COUNT_DEPTHS]
        if any(count.reason for count in shallow) or not _on_one_line(*shallow, (low, high, check)):
            return None
        counts[batch] = replace(on_line(shallow[0], shallow[1], (low, high), full), path="cpu by depth")
    return counts


def _on_one_line(first: ForwardCount, second: ForwardCount, third: ForwardCount, at: tuple[int, int, int]) -> bool:
    expected = on_line(first, second, at[:2], at[2])
    return all(
        math.isclose(got, want, rel_tol=1e-9)
        for got, want in ((third.flops, expected.flops), (third.bytes, expected.bytes), (third.ops, expected.ops))
    )


def _on_cpu(model, info, batches, seq_len: int) -> dict[int, ForwardCount]:
    """Counts of `model` on real cpu tensors: batches up to the last of EXTRAPOLATE_FROM counted,
    larger ones extrapolated from the counts at EXTRAPOLATE_FROM."""
    beyond = [batch for batch in batches if batch > EXTRAPOLATE_FROM[-1]]
    wanted = sorted({batch for batch in batches if batch not in beyond} | (set(EXTRAPOLATE_FROM) if beyond else set()))
    counted = {batch: replace(_counted(model, info, batch, seq_len, "cpu"), path="cpu") for batch in wanted}
    first, second = (counted[batch] for batch in EXTRAPOLATE_FROM) if beyond else (None, None)
    return {batch: counted[batch] if batch in counted else along(first, second, batch) for batch in batches}


def along(first: ForwardCount, second: ForwardCount, batch: int) -> ForwardCount:
    """The count at `batch` on the line through the counts at EXTRAPOLATE_FROM (`first`, `second`);
    the first failure's reason where either failed."""
    if first.reason or second.reason:
        return first if first.reason else second
    return replace(on_line(first, second, EXTRAPOLATE_FROM, batch), path="cpu extrapolated")


def on_line(first: ForwardCount, second: ForwardCount, at: tuple[int, int], x: int) -> ForwardCount:
    """The count at `x` on the line through `first` (counted at `at[0]`) and `second` (at `at[1]`)."""
    share = (x - at[0]) / (at[1] - at[0])
    flops, traffic, ops = (
        a + share * (b - a)
        for a, b in ((first.flops, second.flops), (first.bytes, second.bytes), (first.ops, second.ops))
    )
    return ForwardCount(flops, traffic, round(ops))


def _failed(error: Exception) -> ForwardCount:
    return ForwardCount.failed(f"counting failed: {type(error).__name__}: {error}")


def _counted(model, info, batch_size: int, seq_len: int, device: str, without_mask: bool = False):
    """The count of `model` on inputs made on `device`; None where `without_mask` finds no mask
    to leave out or still fails."""
    from mlperf_pipeline.skillsets.runtime.inputs import make_inputs

    try:
        inputs = make_inputs(model, info, batch_size, seq_len, device, "float32")
    except Exception as error:  # the inputs cannot be made: the type cannot be counted
        return None if without_mask else _failed(error)
    if without_mask:
        if inputs.pop("attention_mask", None) is None:
            return None
        count = count_forward(model, inputs)
        return count if count.reason is None else None
    return count_forward(model, inputs)


def count_grid(item: dict) -> dict:
    """In an isolated process: the counts of one model type at one size for each batch of `item`
    (`info`: a `SkillsetInfo`'s fields, or `skillset_path`: a generated module whose INFO to use;
    `by_depth`, default true, as `count_workloads` takes it)."""
    import time

    from mlperf_pipeline.skillsets.runtime.build import SkillsetInfo

    started = time.perf_counter()
    if item.get("skillset_path"):
        from pathlib import Path

        from mlperf_pipeline.skillsets.runtime.loading import load_skillset_module

        info = load_skillset_module(Path(item["skillset_path"])).INFO
    else:
        info = SkillsetInfo(**item["info"])
    counts, params = count_workloads(info, item["size"], item["batches"], item["seq_len"], item.get("by_depth", True))
    return {
        "status": "ok",
        "counts": {str(batch): count.fields() for batch, count in counts.items()},
        "params": params,
        "paths": {str(batch): count.path for batch, count in counts.items()},
        "seconds": time.perf_counter() - started,  # for benchmarks/counting.py's slowest pairs
    }
