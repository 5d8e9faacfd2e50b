"""`RoutingRunCoordinator`: Dagster's run queue, plus routing tags on every run it queues.

Every launched run passes through the instance's run coordinator (the UI, backfills, the
schedule, sensors, `dagster job launch`), so this is the one place where a run is given the
worker queue and node placement of its hardware (`routing.py`) before the daemon dequeues it. A
run no worker can take (a range over two hardware kinds, a hardware with no route) fails here with
the reason, instead of waiting in a queue nobody serves. Used by `deploy/cluster/dagster.yaml`:

    run_coordinator:
      module: mlperf_pipeline.orchestration.coordinator
      class: RoutingRunCoordinator
      config: {...QueuedRunCoordinator's config...}
"""

from __future__ import annotations

import dagster as dg

from mlperf_pipeline.orchestration.routing import RoutingError, routing_tags_for


class RoutingRunCoordinator(dg.QueuedRunCoordinator):
    def submit_run(self, context: dg.SubmitRunContext) -> dg.DagsterRun:
        run = context.dagster_run
        try:
            routed = routing_tags_for(run.tags)
        except RoutingError as error:
            self._instance.report_run_failed(run, f"not queued: {error}")
            return self._instance.get_run_by_id(run.run_id)
        missing = {name: value for name, value in routed.items() if run.tags.get(name) != value}
        if missing:
            self._instance.add_run_tags(run.run_id, missing)
            run = self._instance.get_run_by_id(run.run_id)
        return super().submit_run(dg.SubmitRunContext(run, context.workspace))
