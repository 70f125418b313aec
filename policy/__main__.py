"""The gpu-model-platform policy pack: `pulumi preview --policy-pack policy` runs this file.

Every policy is mandatory: a violation fails the preview or update. The policies live in
`platform_policies/`, one module per concern, and are unit-tested in tests/test_policy.py. The same
package ships in the library's wheel as `gpu_model_platform.policy`, with its own pack directory.
"""

from platform_policies import serve

serve()
