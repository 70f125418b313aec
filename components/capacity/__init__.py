"""GPU capacity: node groups, the autoscalers that grow them (Cluster Autoscaler or Karpenter), and the GPU operators."""
