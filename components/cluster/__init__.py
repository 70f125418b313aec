"""The cluster: network, EKS control plane, system nodes, storage, IRSA identity and support dates."""
