"""A hardware's roofline from its measured ceilings, and where a workload sits under it.

The roof is the best measured matrix-product rate of the workload's dtype (`hardware_ceilings`,
metric `matmul_flops`, over the matrix sides measured) and the best measured bandwidth (copy or
triad). A workload of F FLOPs moving B bytes (`skillsets/runtime/counting.py`) takes at least
max(F / peak, B / bandwidth) seconds on it: compute-bound when its intensity F / B is above the
ridge point peak / bandwidth, memory-bound below. This is the uncalibrated roofline; the fitted
efficiencies and per-operator overhead of `calibration.py` turn it into a prediction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

FLOPS_METRIC = "matmul_flops"
BANDWIDTH_METRICS = ("copy_bandwidth", "triad_bandwidth")


@dataclass(frozen=True)
class Roofline:
    hardware: str
    flops_per_s: dict[str, float]  # best product rate per dtype
    bytes_per_s: float

    @classmethod
    def from_ceilings(cls, hardware: str, rows: Iterable[dict]) -> Roofline | None:
        """The roofline of one measurement's `hardware_ceilings` rows; None without both roofs."""
        flops: dict[str, float] = {}
        bandwidth = 0.0
        for row in rows:
            if row["metric"] == FLOPS_METRIC:
                flops[row["dtype"]] = max(flops.get(row["dtype"], 0.0), row["value"])
            elif row["metric"] in BANDWIDTH_METRICS:
                bandwidth = max(bandwidth, row["value"])
        return cls(hardware, flops, bandwidth) if flops and bandwidth > 0 else None

    def peak(self, dtype: str) -> float | None:
        return self.flops_per_s.get(dtype)

    def bound(self, flops: float, bytes_moved: float, dtype: str) -> str | None:
        """`compute` when the workload's intensity is at or above the ridge point, else `memory`."""
        peak = self.peak(dtype)
        if peak is None or not flops or not bytes_moved:
            return None
        return "compute" if flops / bytes_moved >= peak / self.bytes_per_s else "memory"

    def seconds(self, flops: float, bytes_moved: float, dtype: str) -> float | None:
        """The uncalibrated roofline time: the slower of the two roofs."""
        peak = self.peak(dtype)
        if peak is None or not flops or not bytes_moved:
            return None
        return max(flops / peak, bytes_moved / self.bytes_per_s)

    def row_fields(self, row: dict) -> dict:
        """A measured row's `roofline_fraction` (achieved FLOP/s over the dtype's peak) and `bound`."""
        flops, latency_ms, peak = row.get("flops"), row.get("latency_ms_p50"), self.peak(row.get("dtype"))
        fraction = flops / (latency_ms / 1e3) / peak if flops and latency_ms and peak else None
        return {"roofline_fraction": fraction, "bound": self.bound(flops, row.get("bytes"), row.get("dtype"))}


def rooflines_of(ceilings) -> dict[str, Roofline]:
    """Each hardware's roofline from a frame of ceiling rows (e.g. `read_latest_ceilings`)."""
    rooflines = {}
    for hardware, rows in ceilings.groupby("hardware", sort=True):
        roofline = Roofline.from_ceilings(hardware, rows.to_dict("records"))
        if roofline is not None:
            rooflines[hardware] = roofline
    return rooflines
