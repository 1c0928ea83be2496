# plugins/codec/lz4: the "lz4" block codec plugin (liblz4; LZ4HC for levels
# 2..12).
plugin_LTLIBRARIES += codec-lz4.la
codec_lz4_la_SOURCES = plugins/codec/lz4/lz4.c
codec_lz4_la_CFLAGS = $(AM_CFLAGS) $(LZ4_CFLAGS)
codec_lz4_la_LDFLAGS = $(DK_PLUGIN_LDOPTS)
codec_lz4_la_LIBADD = $(LZ4_LIBS)
