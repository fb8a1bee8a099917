"""One module per API resource: the head handlers behind each endpoint."""
