"""Who reaches the cluster API: CI's deploy access and the read-only preview role."""
