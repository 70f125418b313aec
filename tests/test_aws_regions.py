"""The AWS regions a component accepts (components/aws_regions.py): botocore's list, a typo refused naming the
closest region. The list itself is compared with the installed botocore's in tests/test_mistakes_between_components.py."""

from __future__ import annotations

import pydantic
import pytest

from components.aws_regions import REGIONS, AwsRegion, region_problem


@pytest.mark.parametrize("region", ["us-west-2", "eu-central-1", "us-gov-west-1", "cn-north-1"])
def test_a_region_aws_has_has_no_problem(region):
    assert region in REGIONS and region_problem(region) is None


def test_a_typo_is_refused_naming_the_closest_region():
    assert region_problem("eu-wset-1") == "must be an AWS region such as us-west-2 (did you mean eu-west-1?)"


def test_a_name_like_no_region_is_refused_without_a_guess():
    assert region_problem("mars") == "must be an AWS region such as us-west-2"


def test_a_field_typed_aws_region_refuses_a_typo_and_keeps_a_region():
    adapter = pydantic.TypeAdapter(AwsRegion)
    assert adapter.validate_python("us-west-2") == "us-west-2"
    with pytest.raises(pydantic.ValidationError, match=r"must be an AWS region such as us-west-2 \(did you mean"):
        adapter.validate_python("us-wst-2")
