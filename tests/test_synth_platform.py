"""`python -m tools.synth` shows what the cluster gives workloads: the add-ons with their roles, the StorageClass,
who enforces NetworkPolicies and the GPU capacity (prod: one group per zone), for each stack and a Karpenter
variant chosen with `--set`."""

from __future__ import annotations

import re

import pytest

from tools.synth.__main__ import main


def _platform(capsys, tmp_path, *argv: str) -> str:
    assert main([*argv, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    return out[out.index("platform:"):]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_an_aws_stack_shows_the_driver_its_role_the_class_and_the_enforcing_cni(capsys, tmp_path, stack):
    shown = _platform(capsys, tmp_path, "--stack", stack)
    assert "EKS gpu-" in shown and "Kubernetes 1.35, standard support until 2027-03-27" in shown
    assert re.search(r"add-on aws-ebs-csi-driver\s+v1\.56\.0-eksbuild\.1\s+IRSA role: cluster-ebs-csi-role", shown)
    assert re.search(r'add-on vpc-cni .*configuration \{"enableNetworkPolicy": "true"\}', shown)
    assert "StorageClass gp3 (default): ebs.csi.aws.com" in shown and "WaitForFirstConsumer" in shown
    assert "NetworkPolicies enforced by: the VPC CNI add-on (enableNetworkPolicy)" in shown


def test_prod_shows_one_gpu_group_per_zone(capsys, tmp_path):
    shown = _platform(capsys, tmp_path, "--stack", "prod")
    groups = re.findall(r"GPU node group gpu-nodes-group-(us-west-2[abc]): .*zones (\S+)$", shown, re.M)
    assert groups == [("us-west-2a", "us-west-2a"), ("us-west-2b", "us-west-2b"), ("us-west-2c", "us-west-2c")]


def test_a_karpenter_variant_is_one_set_away(capsys, tmp_path):
    shown = _platform(capsys, tmp_path, "--stack", "dev", "--set", "autoscaling.provisioner=karpenter",
                      "--set", "autoscaling.spotFirst=false")
    assert "Karpenter NodePool karpenter-gpu: at most 4 GPUs" in shown
    assert "GPU node group" not in shown and "add-on aws-ebs-csi-driver" in shown


def test_local_shows_the_stated_enforcement_and_the_default_class(capsys, tmp_path):
    shown = _platform(capsys, tmp_path, "--stack", "local")
    assert "StorageClass: the cluster default (not created here)" in shown
    assert "NetworkPolicies enforced by: the cluster's CNI, as stated in cluster.enforcesNetworkPolicies" in shown


def test_a_bad_set_is_a_config_error_naming_the_key(capsys, tmp_path):
    assert main(["--stack", "dev", "--set", "autoscaling.provisioner=kubelet", "--out", str(tmp_path)]) == 2
    assert "autoscaling.provisioner" in capsys.readouterr().err
