# rules for tests/blackbox
