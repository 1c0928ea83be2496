# framework: the core library every node links (a convenience library, so
# dynkvd is one binary and needs no rpath). Each subsystem folder appends its
# sources and declares its unit tests in its own local.mk, included from the
# top Makefile.am right after this file; framework/LAYERS says which folder
# may include which, and `make check-style` checks it.
noinst_LTLIBRARIES += framework/libdynkv.la
framework_libdynkv_la_SOURCES =
framework_libdynkv_la_CFLAGS = $(AM_CFLAGS) $(UV_CFLAGS) $(SQLITE_CFLAGS) $(INIH_CFLAGS) \
	$(JANSSON_CFLAGS) $(XXHASH_CFLAGS) $(CRYPTO_CFLAGS) $(SSL_CFLAGS)
framework_libdynkv_la_LIBADD = framework/util/libdkutil.la $(UV_LIBS) $(SQLITE_LIBS) \
	$(INIH_LIBS) $(JANSSON_LIBS) $(XXHASH_LIBS) $(SSL_LIBS) $(CRYPTO_LIBS) \
	$(HTTP_PARSER_LIBS) $(LIBS) -lpthread -lm

dynkvinclude_HEADERS += \
	framework/include/dynkv/types.h framework/include/dynkv/plugin.h \
	framework/include/dynkv/engine.h framework/include/dynkv/compaction.h \
	framework/include/dynkv/conflict.h framework/include/dynkv/codec.h \
	framework/include/dynkv/crdt.h

# Unit tests link the core and CUnit. Without CUnit (configure says so)
# every unit test's compile stops on no_cunit.h's #error, which names the
# package, before its own #include <CUnit/CUnit.h> can fail obscurely.
DK_UNIT_CC = $(AM_CFLAGS) $(CUNIT_CFLAGS) $(UV_CFLAGS) $(JANSSON_CFLAGS)
if !HAVE_CUNIT
DK_UNIT_CC += -include $(top_srcdir)/tests/unit/no_cunit.h
endif
DK_UNIT_LINK = framework/libdynkv.la $(CUNIT_LIBS)
EXTRA_DIST += tests/unit/no_cunit.h

EXTRA_DIST += framework/LAYERS
