"""The price table `tools.cost` uses: on-demand list prices in US dollars for us-west-2, recorded 2026-12-07.

Each price carries its source (the AWS page itself where the search tool's stored copy shows the number, a dated
third-party page otherwise); those marked estimate are list prices as commonly published and not confirmed
by a dated source here (docs/cost.md, "Prices used", gives the same table). Re-check before a budget decision.
"""

from __future__ import annotations

RECORDED = "2026-12-07"
REGION = "us-west-2"
HOURS_PER_MONTH = 730

# Instance hours (on-demand, Linux). SPOT capacity is priced at on-demand: an upper bound, as spot moves by the minute.
INSTANCE_HOUR: dict[str, float] = {
    "g5.xlarge": 1.006,  # factualminds.com, "Amazon EC2 On-Demand Pricing ... (2026)", 2026-06-17 (us-east-1 = us-west-2)
    "g6.xlarge": 0.8048,  # estimate
    "g4dn.xlarge": 0.526,  # estimate
    "m7i.large": 0.1008,  # estimate
}
EKS_CLUSTER_HOUR = 0.10  # AWS Containers blog, EKS extended support pricing (April 2024): standard support
NAT_GATEWAY_HOUR = 0.045  # cloudpipelines.pages.dev, "AWS NAT Gateway pricing 2026" (US West)
PUBLIC_IPV4_HOUR = 0.005  # cloudburn.io, "AWS NAT Gateway Pricing", 2026-02-24 (each NAT gateway's Elastic IP)
ALB_HOUR = 0.0225  # estimate: Application Load Balancer hour, before LCUs (traffic)
EBS_GP3_GB_MONTH = 0.08  # estimate
# aws.amazon.com/kms/pricing (stored copy read 2026-12-07): $1/month per key; each yearly rotation adds $1/month
# for the kept backing key, which this first-year price leaves out (docs/cost.md says so).
KMS_KEY_MONTH = 1.00
ECR_GB_MONTH = 0.10  # cloudburn.io "Amazon ECR pricing" (US East, March 2026), wring.co (2026-03-15); estimate for us-west-2
LOGS_INGESTED_GB = 0.50  # factualminds.com "Amazon CloudWatch Pricing" (2026, third party, US East)
LOGS_STORED_GB_MONTH = 0.03  # estimate

# Assumptions about usage the program does not declare (each an estimate, stated in docs/cost.md).
CONTROL_PLANE_LOGS_GB_MONTH = 4.0  # a small cluster's api, audit and authenticator logs: ~2-5 GB a month
IMAGE_GB = 5.0  # one CUDA model image in the registry, compressed
