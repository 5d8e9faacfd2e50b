"""Everything Dagster: assets, checks, partitions, resources, sensors, schedules and jobs."""
