# framework/base: logger, configuration, durations, metrics and the
# cross-loop mailbox and wake-up, and their unit tests.
framework_libdynkv_la_SOURCES += \
	framework/base/log.c framework/base/log.h \
	framework/base/duration.c framework/base/duration.h \
	framework/base/config_values.c framework/base/config_ini.c framework/base/config_check.c \
	framework/base/config_args.c framework/base/config.h framework/base/config_int.h framework/base/config_keys.h \
	framework/base/metrics.c framework/base/metrics_help.c framework/base/metrics.h framework/base/metrics_int.h \
	framework/base/mailbox.c framework/base/mailbox.h \
	framework/base/wake.c framework/base/wake.h \
	framework/base/member.c framework/base/member.h \
	framework/base/cluster_key.c framework/base/cluster_key.h \
	framework/base/tls_mem.c framework/base/tls_mem.h \
	framework/base/memsize.c framework/base/memsize.h

check_PROGRAMS += tests/unit/test-config tests/unit/test-config-args tests/unit/test-log tests/unit/test-metrics tests/unit/test-mailbox \
	tests/unit/test-wake tests/unit/test-cluster-key
TESTS += tests/unit/test-config tests/unit/test-config-args tests/unit/test-log tests/unit/test-metrics tests/unit/test-mailbox \
	tests/unit/test-wake tests/unit/test-cluster-key

tests_unit_test_config_SOURCES = tests/unit/test-config.c tests/unit/tc_config.h tests/unit/cu_main.h
tests_unit_test_config_CFLAGS = $(DK_UNIT_CC) $(INIH_CFLAGS) $(SQLITE_CFLAGS)
tests_unit_test_config_LDADD = $(DK_UNIT_LINK)

tests_unit_test_config_args_SOURCES = tests/unit/test-config-args.c tests/unit/tc_config.h tests/unit/cu_main.h
tests_unit_test_config_args_CFLAGS = $(DK_UNIT_CC) $(INIH_CFLAGS) $(SQLITE_CFLAGS)
tests_unit_test_config_args_LDADD = $(DK_UNIT_LINK)

tests_unit_test_log_SOURCES = tests/unit/test-log.c tests/unit/cu_main.h
tests_unit_test_log_CFLAGS = $(DK_UNIT_CC)
tests_unit_test_log_LDADD = $(DK_UNIT_LINK)

tests_unit_test_metrics_SOURCES = tests/unit/test-metrics.c tests/unit/cu_main.h
tests_unit_test_metrics_CFLAGS = $(DK_UNIT_CC)
tests_unit_test_metrics_LDADD = $(DK_UNIT_LINK) -lpthread

tests_unit_test_mailbox_SOURCES = tests/unit/test-mailbox.c tests/unit/cu_main.h
tests_unit_test_mailbox_CFLAGS = $(DK_UNIT_CC)
tests_unit_test_mailbox_LDADD = $(DK_UNIT_LINK) -lpthread

tests_unit_test_wake_SOURCES = tests/unit/test-wake.c tests/unit/cu_main.h
tests_unit_test_wake_CFLAGS = $(DK_UNIT_CC)
tests_unit_test_wake_LDADD = $(DK_UNIT_LINK) -lpthread

tests_unit_test_cluster_key_SOURCES = tests/unit/test-cluster-key.c tests/unit/cu_main.h
tests_unit_test_cluster_key_CFLAGS = $(DK_UNIT_CC)
tests_unit_test_cluster_key_LDADD = $(DK_UNIT_LINK)

EXTRA_DIST += examples/single-node.ini
