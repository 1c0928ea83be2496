# server: the dynkvd node daemon.
bin_PROGRAMS += server/dynkvd
server_dynkvd_SOURCES = server/dynkvd.c server/dynkvd_tools.c server/dynkvd_tools.h
server_dynkvd_CFLAGS = $(AM_CFLAGS) $(UV_CFLAGS) $(JANSSON_CFLAGS) $(SYSTEMD_CFLAGS) $(CRYPTO_CFLAGS)
server_dynkvd_LDADD = framework/libdynkv.la $(SYSTEMD_LIBS) $(CRYPTO_LIBS)
