"""The AWS regions a component accepts: a typo (`us-wst-2`) is refused at declaration, not at `up`.

Recorded from botocore 1.44.5's `botocore/data/endpoints.json` (every partition's `regions`: aws, aws-cn, aws-us-gov,
aws-iso, aws-iso-b, aws-iso-e, aws-iso-f, aws-eusc). A region AWS opens later is added here (tests/test_aws_regions.py
compares this list with the installed botocore's).
"""

from __future__ import annotations

import difflib
from typing import Annotated

from ._args import checked_by

REGIONS = frozenset({
    "af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1",
    "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5",
    "ap-southeast-6", "ap-southeast-7", "ca-central-1", "ca-west-1", "cn-north-1", "cn-northwest-1", "eu-central-1",
    "eu-central-2", "eu-isoe-west-1", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3",
    "eusc-de-east-1", "il-central-1", "me-central-1", "me-south-1", "mx-central-1", "sa-east-1", "us-east-1",
    "us-east-2", "us-gov-east-1", "us-gov-west-1", "us-iso-east-1", "us-iso-west-1", "us-isob-east-1",
    "us-isob-west-1", "us-isof-east-1", "us-isof-south-1", "us-west-1", "us-west-2",
})


def region_problem(region: str) -> str | None:
    """What is wrong with `region`, naming the closest known one; None when AWS has it."""
    if region in REGIONS:
        return None
    close = difflib.get_close_matches(region, sorted(REGIONS), n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"must be an AWS region such as us-west-2{hint}"


AwsRegion = Annotated[str, checked_by(region_problem)]
"""An AWS region code AWS has (botocore's list above)."""
