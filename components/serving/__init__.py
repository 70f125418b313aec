"""The model's request path: registry, image, workload, Service, pod autoscaling, endpoint, scale to zero and canary."""
