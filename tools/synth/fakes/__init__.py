"""The fakes moved into the package (`gpu_model_platform.testing`, this checkout's `components/testing/`),
so adopters test with the same ones; this name stays for the project's own tools and tests."""

from components.testing import FakeCloud, fake_call, fake_resource

__all__ = ["FakeCloud", "fake_call", "fake_resource"]
