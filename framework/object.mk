# framework/object rules: the stored object encoding and client context
# tokens (core library), and their unit tests.
framework_libdynkv_la_SOURCES += \
	framework/object.c framework/object.h \
	framework/context.c framework/context.h

check_PROGRAMS += tests/unit/test-vv tests/unit/test-object
TESTS += tests/unit/test-vv tests/unit/test-object
tests_unit_test_vv_SOURCES = tests/unit/test-vv.c tests/unit/cu_main.h
tests_unit_test_vv_CFLAGS = $(DK_UNIT_CC)
tests_unit_test_vv_LDADD = $(DK_UNIT_LINK)
tests_unit_test_object_SOURCES = tests/unit/test-object.c tests/unit/cu_main.h
tests_unit_test_object_CFLAGS = $(DK_UNIT_CC)
tests_unit_test_object_LDADD = $(DK_UNIT_LINK)
