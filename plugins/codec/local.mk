# plugins/codec: what the codec plugins share: their unit test (every
# codec through the node's codec_open) and the broken codec plugins the
# loader must refuse. Each codec has its own folder and local.mk.
# plugins/README.md is the plugin authors' guide.
EXTRA_DIST += plugins/README.md
check_PROGRAMS += tests/unit/test-codecs
TESTS += tests/unit/test-codecs
tests_unit_test_codecs_SOURCES = tests/unit/test-codecs.c tests/unit/cu_main.h
tests_unit_test_codecs_CFLAGS = $(DK_UNIT_CC)
tests_unit_test_codecs_LDADD = $(DK_UNIT_LINK) -lpthread

check_LTLIBRARIES += codec-oldabi.la codec-nodecompress.la
codec_oldabi_la_SOURCES = tests/unit/bad_plugins/codec_variant.c
codec_oldabi_la_CPPFLAGS = $(AM_CPPFLAGS) -DDK_VARIANT_OLDABI
codec_oldabi_la_LDFLAGS = $(DK_TEST_PLUGIN_LDOPTS)
codec_nodecompress_la_SOURCES = tests/unit/bad_plugins/codec_variant.c
codec_nodecompress_la_CPPFLAGS = $(AM_CPPFLAGS) -DDK_VARIANT_NODECOMPRESS
codec_nodecompress_la_LDFLAGS = $(DK_TEST_PLUGIN_LDOPTS)
