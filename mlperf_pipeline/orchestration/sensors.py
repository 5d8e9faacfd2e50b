"""Sensors: declared running, since Dagster starts sensors stopped otherwise."""


import dagster as dg

from mlperf_pipeline.catalog.catalog import build_catalog, catalog_fingerprint, partition_keys_in_tier_order
from mlperf_pipeline.orchestration.partitions import model_type_partitions


@dg.sensor(
    name="model_catalog_sensor",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=300,
    description="Registers new model types as `model_type` partitions in tier order and retires types the "
    "library dropped (their stored results stay). The cursor is a hash of the catalogue, so an unchanged tick is free.",
)
def model_catalog_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    current = catalog_fingerprint()
    if context.cursor == current:
        return dg.SkipReason("catalogue unchanged")
    wanted = partition_keys_in_tier_order(build_catalog(with_configs=False))
    registered = context.instance.get_dynamic_partitions(model_type_partitions.name)
    new_keys = [key for key in wanted if key not in set(registered)]
    dropped = [key for key in registered if key not in set(wanted)]
    context.log.info(f"catalogue {current}: {len(new_keys)} new, {len(dropped)} retired")
    requests = []
    if new_keys:
        requests.append(model_type_partitions.build_add_request(new_keys))
    if dropped:
        requests.append(model_type_partitions.build_delete_request(dropped))
    return dg.SensorResult(dynamic_partitions_requests=requests, cursor=current)
