# rules for client: the `dynkv` command-line client: its data verbs on
# libdynkv-client (sdk/, routed by the ring), its operator verbs on the
# blocking HTTP/1.1 client the SDK is built on (sdk/libdkhttp.la); JSON
# through jansson, base64 from framework/util; no libuv, no libdynkv).
bin_PROGRAMS += client/dynkv
client_dynkv_SOURCES = client/dynkv.c client/cli.h client/cli_call.c client/cli_output.c \
	client/cli_data.c client/cli_cluster.c client/cli_ops.c client/cli_snapshot.c client/cli_maint.c
client_dynkv_CPPFLAGS = $(AM_CPPFLAGS) -I$(srcdir)/sdk
client_dynkv_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(SSL_CFLAGS)
client_dynkv_LDADD = sdk/libdynkv-client.la sdk/libdkhttp.la framework/util/libdkutil.la $(JANSSON_LIBS) $(SSL_LIBS) $(CRYPTO_LIBS)
