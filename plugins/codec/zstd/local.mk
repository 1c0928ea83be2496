# plugins/codec/zstd: the "zstd" block codec plugin; the only part of dynkv
# that links libzstd.
plugin_LTLIBRARIES += codec-zstd.la
codec_zstd_la_SOURCES = plugins/codec/zstd/zstd.c
codec_zstd_la_CFLAGS = $(AM_CFLAGS) $(ZSTD_CFLAGS)
codec_zstd_la_LDFLAGS = $(DK_PLUGIN_LDOPTS)
codec_zstd_la_LIBADD = $(ZSTD_LIBS) -lpthread
