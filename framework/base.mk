# framework/base rules: logger, configuration, catalog (and their tests).
framework_libdynkv_la_SOURCES += \
	framework/log.c framework/log.h \
	framework/duration.c framework/duration.h \
	framework/config.c framework/config.h framework/config_keys.h \
	framework/catalog.c framework/catalog.h

check_PROGRAMS += tests/unit/test-config tests/unit/test-catalog tests/unit/test-log
TESTS += tests/unit/test-config tests/unit/test-catalog tests/unit/test-log

tests_unit_test_config_SOURCES = tests/unit/test-config.c tests/unit/cu_main.h
tests_unit_test_config_CFLAGS = $(DK_UNIT_CC) $(INIH_CFLAGS) $(SQLITE_CFLAGS)
tests_unit_test_config_LDADD = $(DK_UNIT_LINK)

tests_unit_test_catalog_SOURCES = tests/unit/test-catalog.c tests/unit/cu_main.h
tests_unit_test_catalog_CFLAGS = $(DK_UNIT_CC) $(INIH_CFLAGS) $(SQLITE_CFLAGS)
tests_unit_test_catalog_LDADD = $(DK_UNIT_LINK)

tests_unit_test_log_SOURCES = tests/unit/test-log.c tests/unit/cu_main.h
tests_unit_test_log_CFLAGS = $(DK_UNIT_CC)
tests_unit_test_log_LDADD = $(DK_UNIT_LINK)

EXTRA_DIST += examples/single-node.ini
