# framework: the core library every node links (a convenience library, so
# dynkvd is one binary and needs no rpath). Each area appends its sources in
# its own fragment (base.mk, plugin_host.mk, object.mk, http.mk, ring.mk).
noinst_LTLIBRARIES += framework/libdynkv.la
framework_libdynkv_la_SOURCES =
framework_libdynkv_la_CFLAGS = $(AM_CFLAGS) $(UV_CFLAGS) $(SQLITE_CFLAGS) $(INIH_CFLAGS) \
	$(JANSSON_CFLAGS) $(XXHASH_CFLAGS) $(CRYPTO_CFLAGS) $(ZSTD_CFLAGS)
framework_libdynkv_la_LIBADD = framework/util/libdkutil.la $(UV_LIBS) $(SQLITE_LIBS) \
	$(INIH_LIBS) $(JANSSON_LIBS) $(XXHASH_LIBS) $(CRYPTO_LIBS) $(ZSTD_LIBS) \
	$(HTTP_PARSER_LIBS) $(LIBS) -lpthread -lm

dynkvinclude_HEADERS += \
	framework/include/dynkv/types.h framework/include/dynkv/plugin.h \
	framework/include/dynkv/engine.h framework/include/dynkv/compaction.h \
	framework/include/dynkv/conflict.h

# Unit tests link the core and CUnit.
DK_UNIT_CC = $(AM_CFLAGS) $(CUNIT_CFLAGS) $(UV_CFLAGS) $(JANSSON_CFLAGS)
DK_UNIT_LINK = framework/libdynkv.la $(CUNIT_LIBS)

# The node: host API, metrics, local store, HTTP API, lifecycle (lead).
framework_libdynkv_la_SOURCES += \
	framework/host.c framework/host.h \
	framework/metrics.c framework/metrics.h \
	framework/store.c framework/store.h \
	framework/node.c framework/node.h \
	framework/api.c framework/api.h framework/api_int.h framework/api_worker.c \
	framework/api_json.c framework/api_json.h
framework_libdynkv_la_SOURCES += \
	framework/mailbox.c framework/mailbox.h \
	framework/cluster.c framework/cluster.h
