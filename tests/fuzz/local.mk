# rules for tests/fuzz
