# plugins/codec/none: the "none" block codec plugin (stores bytes as they are).
plugin_LTLIBRARIES += codec-none.la
codec_none_la_SOURCES = plugins/codec/none/none.c
codec_none_la_LDFLAGS = $(DK_PLUGIN_LDOPTS)
