"""The gpu-model-platform policy pack as the library's wheel ships it.

`pulumi preview --policy-pack "$(python -m gpu_model_platform.policy)"` runs this file with the Python
Pulumi finds on PATH (the adopter's activated environment, where `gpu-model-platform[policy]` is installed).
"""

from gpu_model_platform.policy import serve

serve()
