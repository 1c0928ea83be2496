# rules for tests/cluster
