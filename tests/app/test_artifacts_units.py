"""The on-disk contract between training and serving: the version is the weights' content hash, and metadata.json
is read as an object or refused by name."""

from __future__ import annotations

import hashlib

import pytest
from model_server.artifacts import METADATA_FILE, model_version, read_metadata


def test_the_version_is_the_first_twelve_hex_digits_of_the_weights_sha256() -> None:
    weights = b"onnx weights"
    assert model_version(weights) == hashlib.sha256(weights).hexdigest()[:12]
    assert len(model_version(weights)) == 12 and model_version(weights) != model_version(weights + b"!")


def test_a_model_without_metadata_has_none(tmp_path) -> None:
    assert read_metadata(tmp_path) == {}


def test_metadata_is_read_as_utf8_json(tmp_path) -> None:
    (tmp_path / METADATA_FILE).write_text('{"accuracy": 0.97, "note": "é"}', encoding="utf-8")
    assert read_metadata(tmp_path) == {"accuracy": 0.97, "note": "é"}


def test_metadata_that_is_not_an_object_is_refused_naming_the_file_and_what_it_holds(tmp_path) -> None:
    (tmp_path / METADATA_FILE).write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ValueError) as refused:
        read_metadata(tmp_path)
    assert str(refused.value) == f"{tmp_path / METADATA_FILE}: expected a JSON object, got list"


def test_a_directory_named_like_the_metadata_is_not_read_as_it(tmp_path) -> None:
    (tmp_path / METADATA_FILE).mkdir()
    assert read_metadata(tmp_path) == {}
