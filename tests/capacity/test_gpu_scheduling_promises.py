"""What GPU nodes carry and what GPU pods need to land on them, from the one `GpuScheduling` (issue 29)."""

from __future__ import annotations

from components.capacity.gpu_scheduling import GpuScheduling, Taint


def test_gpu_nodes_are_labelled_as_nvidia_gpu_inference_nodes_by_default():
    # `k8s.amazonaws.com/accelerator` keeps cluster-autoscaler from adding a second node while the GPUs come up.
    assert GpuScheduling().node_labels == {"nvidia.com/gpu.present": "true", "workload": "gpu-inference",
                                           "k8s.amazonaws.com/accelerator": "nvidia"}


def test_gpu_nodes_are_tainted_so_only_pods_that_tolerate_nvidia_gpu_land_there_by_default():
    assert GpuScheduling().taints == (Taint(key="nvidia.com/gpu", value="true", effect="NoSchedule"),)


def test_gpu_pods_select_every_gpu_node_label_and_tolerate_the_default_taint_exactly():
    scheduling = GpuScheduling()
    assert scheduling.node_selector() == scheduling.node_labels
    assert scheduling.tolerations() == [
        {"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}]


def test_the_node_selector_is_a_copy_a_caller_may_change_without_changing_the_nodes():
    scheduling = GpuScheduling(node_labels={"pool": "a10g"})
    selector = scheduling.node_selector()
    selector["extra"] = "x"
    assert scheduling.node_selector() == {"pool": "a10g"}


def test_a_pod_tolerates_each_custom_taint_with_its_own_key_value_and_effect():
    scheduling = GpuScheduling(taints=(Taint("dedicated", "llm", "NoExecute"), Taint("team", "a", "PreferNoSchedule")))
    assert scheduling.tolerations() == [
        {"key": "dedicated", "operator": "Equal", "value": "llm", "effect": "NoExecute"},
        {"key": "team", "operator": "Equal", "value": "a", "effect": "PreferNoSchedule"}]
