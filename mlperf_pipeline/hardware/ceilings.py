"""The roofline's ceilings: the kernels that measure a device's matrix throughput and memory bandwidth.

- `matmul_flops`: C = A @ B of square n × n matrices in the dtype, 2 n³ FLOPs a call (the FLOP
  convention of `skillsets/runtime/counting.py`). Several sides, because a small product does not
  fill the machine and a model's products are of every size: the roofline takes the largest rate
  per dtype, and the calibration's efficiencies absorb the gap to the sizes a model runs.
- `copy_bandwidth`: `dst.copy_(src)`, STREAM's copy: one array read, one written, 2 × the array's
  bytes a call.
- `triad_bandwidth`: `a = b + s·c`, STREAM's triad: two arrays read, one written, 3 × the bytes.
  The arrays (`STREAM_BYTES` each) are many times larger than any cache of these machines, so the
  rate is memory's; it is measured in float32 (bandwidth does not depend on what the bytes hold).

Outputs go into preallocated tensors, so a call measures the kernel, not the allocator. Inputs are
seeded random values: a product of zeros may take a shortcut on some hardware.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

STREAM_BYTES = 256 * 2**20
# Matrix sides per hardware: a 2-core cpu takes ~1 s for ten 1024-products in bfloat16; a GPU is
# only filled by sides in the thousands.
MATMUL_SIDES = {"cpu": (256, 512, 1024)}
GPU_MATMUL_SIDES = (1024, 4096, 8192)
BANDWIDTH_DTYPE = "float32"

FLOPS_METRIC = "matmul_flops"
BANDWIDTH_METRICS = ("copy_bandwidth", "triad_bandwidth")


@dataclass(frozen=True)
class CeilingKernel:
    metric: str
    dtype: str
    size: int  # the matrix side, or the bytes of each array
    unit: str  # FLOP/s or B/s: what `work` per second is

    @property
    def work(self) -> float:
        """FLOPs (matmul) or bytes moved (copy, triad) by one call."""
        if self.metric == FLOPS_METRIC:
            return 2.0 * self.size**3
        return (2.0 if self.metric == "copy_bandwidth" else 3.0) * self.size

    def to_dict(self) -> dict:
        return asdict(self)

    def prepare(self, device: str) -> Callable[[], object]:
        """The call to time, with its tensors allocated on `device`."""
        import torch

        generator = torch.Generator().manual_seed(0)
        dtype = getattr(torch, self.dtype)

        def tensor(*shape):
            return torch.rand(*shape, generator=generator).to(device=device, dtype=dtype)

        if self.metric == FLOPS_METRIC:
            left, right, out = tensor(self.size, self.size), tensor(self.size, self.size), tensor(self.size, self.size)
            return lambda: torch.mm(left, right, out=out)
        elements = self.size // torch.tensor([], dtype=dtype).element_size()
        if self.metric == "copy_bandwidth":
            source, target = tensor(elements), tensor(elements)
            return lambda: target.copy_(source)
        a, b, c = tensor(elements), tensor(elements), tensor(elements)
        return lambda: torch.add(b, c, alpha=3.0, out=a)


def ceiling_kernels(hardware: str, dtypes: tuple[str, ...]) -> list[CeilingKernel]:
    """What `hardware_ceilings` measures on `hardware`: a product per dtype and side, then bandwidth."""
    sides = MATMUL_SIDES.get(hardware, GPU_MATMUL_SIDES)
    products = [CeilingKernel(FLOPS_METRIC, dtype, side, "FLOP/s") for dtype in dtypes for side in sides]
    streams = [CeilingKernel(metric, BANDWIDTH_DTYPE, STREAM_BYTES, "B/s") for metric in BANDWIDTH_METRICS]
    return products + streams
