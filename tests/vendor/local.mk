# rules for tests/vendor
