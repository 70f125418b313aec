"""What several args modules derive alike (stack_config/shared_args.py): the GPU nodes' labels and taints as the
config gives them, and the StorageClass the platform's volumes use (monitoring's, else the created cluster's or its
default encrypted class, else an existing cluster's)."""

from __future__ import annotations

import copy

from components.capacity.gpu_scheduling import Taint
from components.cluster.storage import DEFAULT_STORAGE_CLASS
from stack_config import RawConfig, load, read_stack_file
from stack_config.shared_args import gpu_scheduling, storage_class
from tests.harness import TEST_SECRETS, stack_config, stack_file


def _config(stack: str, **sections):
    raw = read_stack_file(stack_file(stack), TEST_SECRETS)
    merged = copy.deepcopy(raw.sections)
    for name, changes in sections.items():
        merged[name] = {**merged.get(name, {}), **changes}
    return load(RawConfig(sections=merged, secret_paths=raw.secret_paths))


def test_gpu_nodes_carry_and_gpu_pods_match_the_configured_labels_and_taints():
    group = _config("prod", gpuNodeGroup={"labels": {"workload": "llm"}, "taints": [
        {"key": "team", "value": "nlp", "effect": "NoExecute"}, {"key": "nvidia.com/gpu", "value": "true",
                                                                "effect": "NoSchedule"}]}).gpu_node_group
    scheduling = gpu_scheduling(group)
    assert scheduling.node_labels == dict(group.labels) and scheduling.node_labels["workload"] == "llm"
    assert scheduling.taints == (Taint(key="team", value="nlp", effect="NoExecute"),
                                 Taint(key="nvidia.com/gpu", value="true", effect="NoSchedule"))


def test_a_created_cluster_uses_its_storage_class_or_the_default_and_monitoring_may_name_it():
    assert storage_class(stack_config("prod")) == DEFAULT_STORAGE_CLASS
    assert storage_class(_config("prod", cluster={"storageClass": "fast"})) == "fast"
    assert storage_class(_config("prod", cluster={"storageClass": "fast"}, monitoring={"storageClass": "fast"})) == \
        "fast"


def test_another_cluster_uses_its_configured_class_or_its_own_default():
    assert storage_class(stack_config("local")) is None
    assert storage_class(_config("local", monitoring={"storageClass": "standard"})) == "standard"
