# tools/engine-check: dynkv-engine-check, the engine conformance runner,
# installed for vendors (`dynkv-engine-check PLUGIN.so`). It links the
# framework for the plugin loader and the node's dk_host, not CUnit. In the
# build tree tests/unit/engine-<name>.test runs it on each engine plugin:
#   tests/unit/engine-<name>.test (executable):
#       #!/bin/sh
#       exec ./tools/engine-check/dynkv-engine-check "${DYNKV_PLUGIN_PATH:-.libs}/engine-<name>.so"
#   and in the engine's local.mk:  TESTS += tests/unit/engine-<name>.test
bin_PROGRAMS += tools/engine-check/dynkv-engine-check
tools_engine_check_dynkv_engine_check_SOURCES = tools/engine-check/dynkv-engine-check.c \
	tools/engine-check/ec.h tools/engine-check/ec_harness.c tools/engine-check/ec_checks.c
tools_engine_check_dynkv_engine_check_CFLAGS = $(AM_CFLAGS)
tools_engine_check_dynkv_engine_check_LDADD = framework/libdynkv.la -lpthread
TESTS += tests/unit/engine-memory.test tests/unit/engine-check-refuses.test
EXTRA_DIST += tests/unit/engine-memory.test tests/unit/engine-check-refuses.test
