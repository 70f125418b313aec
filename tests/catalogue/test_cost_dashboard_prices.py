"""The GPU cost dashboard's prices from the config (stack_config/cost_dashboard.py): only a catalogue with monitoring
and GPUs gets one; a whole GPU costs the dearest node price over its GPUs, a time-sliced share that over the pool's
replicas too, to four decimals; an instance type without a price gives no price at all."""

from __future__ import annotations

import copy

from stack_config.cost_dashboard import _per_gpu, builds_cost_dashboard, gpu_cost_dashboard_args
from tests.catalogue import fixture
from tests.harness import stack_config
from tools.cost.prices import INSTANCE_HOUR


def test_only_a_catalogue_with_monitoring_and_gpus_gets_the_dashboard():
    assert builds_cost_dashboard(fixture.config())
    assert not builds_cost_dashboard(stack_config("prod"))  # one `model:`, monitoring and GPUs on
    sections = fixture.sections()
    sections["models"][0].pop("rollout")  # the canary and the queue-depth metric need Prometheus
    autoscaling = dict(sections["autoscaling"], pods={"metric": "cpu"})
    unmonitored = fixture.config(monitoring=dict(sections["monitoring"], enabled=False), models=sections["models"],
                                 autoscaling=autoscaling)
    assert unmonitored.gpu_node_group.enabled and not builds_cost_dashboard(unmonitored)


def test_a_gpu_costs_the_dearest_node_price_over_its_gpus_and_shares_to_four_decimals():
    assert _per_gpu(["g5.xlarge"]) == INSTANCE_HOUR["g5.xlarge"]  # one GPU per node, one share
    assert _per_gpu(["g6.xlarge", "g5.xlarge"]) == max(INSTANCE_HOUR["g6.xlarge"], INSTANCE_HOUR["g5.xlarge"])
    exact = INSTANCE_HOUR["g4dn.xlarge"] / 3
    assert exact != round(exact, 4) and _per_gpu(["g4dn.xlarge"], 3) == round(exact, 4)
    assert _per_gpu(["g5.xlarge", "p4d.24xlarge"]) is None and _per_gpu(["p4d.24xlarge"]) is None


def test_the_example_prices_whole_gpus_and_pool_shares_in_the_monitoring_namespace():
    config = fixture.config()
    args = gpu_cost_dashboard_args(config)
    replicas = config.shared_gpu_pool.replicas
    assert args.namespace == config.monitoring.namespace
    assert args.hourly_prices == {"nvidia_com_gpu": INSTANCE_HOUR["g5.xlarge"],
                                  "nvidia_com_gpu_shared": round(INSTANCE_HOUR["g5.xlarge"] / replicas, 4)}
    models = [m for m in copy.deepcopy(fixture.sections()["models"]) if "gpuSharing" not in m]
    alone = gpu_cost_dashboard_args(fixture.config(models=models, sharedGpuPool=None))
    assert alone.hourly_prices == {"nvidia_com_gpu": INSTANCE_HOUR["g5.xlarge"]}
