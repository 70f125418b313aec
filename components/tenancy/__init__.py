"""Teams as tenants of one cluster: namespaces, quotas, default sizes, priorities and read access."""
