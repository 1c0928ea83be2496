# rules for sdk: libdynkv-client, the C client SDK (installed library,
# header dynkv/client.h, dynkv-client.pc), and the blocking HTTP/1.1
# client it shares with the `dynkv` CLI (sdk/libdkhttp.la, not installed).
noinst_LTLIBRARIES += sdk/libdkhttp.la
sdk_libdkhttp_la_SOURCES = sdk/http_client.c sdk/http_client.h
sdk_libdkhttp_la_CFLAGS = $(AM_CFLAGS) $(SSL_CFLAGS) -fPIC

# The library is built with default visibility (the tree hides symbols by
# default); the regex keeps its exported names to the public dkc_ API.
lib_LTLIBRARIES = sdk/libdynkv-client.la
sdk_libdynkv_client_la_SOURCES = sdk/sdk_int.h sdk/sdk_ring.c sdk/sdk_call.c sdk/sdk_kv.c sdk/sdk_signal.c
sdk_libdynkv_client_la_CPPFLAGS = -I$(srcdir)/sdk $(AM_CPPFLAGS)
sdk_libdynkv_client_la_CFLAGS = $(AM_CFLAGS) -fvisibility=default $(JANSSON_CFLAGS) $(XXHASH_CFLAGS) $(SSL_CFLAGS)
sdk_libdynkv_client_la_LIBADD = sdk/libdkhttp.la framework/util/libdkutil.la \
	$(JANSSON_LIBS) $(XXHASH_LIBS) $(SSL_LIBS) $(CRYPTO_LIBS)
sdk_libdynkv_client_la_LDFLAGS = $(AM_LDFLAGS) -no-undefined -version-info 0:0:0 \
	-export-symbols-regex '^dkc_'
dkcincludedir = $(includedir)/dynkv
dkcinclude_HEADERS = sdk/dynkv/client.h
pkgconfig_DATA += dynkv-client.pc
EXTRA_DIST += dynkv-client.pc.in

# The cluster tests' driver: a line-oriented shell over the SDK
# (tests/cluster/test_sdk.py starts it against a real cluster).
check_PROGRAMS += sdk/dkc-probe
sdk_dkc_probe_SOURCES = sdk/dkc-probe.c
sdk_dkc_probe_CPPFLAGS = -I$(srcdir)/sdk
sdk_dkc_probe_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
sdk_dkc_probe_LDADD = sdk/libdynkv-client.la $(JANSSON_LIBS)

# The decision to fetch the ring again, on a bare handle (no network).
check_PROGRAMS += tests/unit/test-sdk-signal
TESTS += tests/unit/test-sdk-signal
tests_unit_test_sdk_signal_SOURCES = tests/unit/test-sdk-signal.c tests/unit/cu_main.h sdk/sdk_signal.c
tests_unit_test_sdk_signal_CPPFLAGS = -I$(srcdir)/sdk $(AM_CPPFLAGS)
tests_unit_test_sdk_signal_CFLAGS = $(DK_UNIT_CC) $(SSL_CFLAGS)
tests_unit_test_sdk_signal_LDADD = $(CUNIT_LIBS)
