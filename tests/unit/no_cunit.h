/*
 * no_cunit.h - forced into every unit test's compile (-include, see
 * framework/local.mk) when configure did not find CUnit: dynkv itself
 * builds without it, and `make check` stops here with the package to
 * install instead of at a missing <CUnit/CUnit.h>.
 */
#error "make check needs CUnit: apt-get install -y libcunit1-dev, then run configure again"
