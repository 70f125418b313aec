"""What may run in the cluster: admission of images by who signed them."""
