# tests/plugins/compaction-oneknob: a compaction policy with one option
# ([compaction.oneknob] runs), built like the in-tree policies but as a
# check-only module (never installed). Copy this folder to start a policy;
# tests/plugins/run-plugin-options.sh runs a node with it.
check_LTLIBRARIES += compaction-oneknob.la
compaction_oneknob_la_SOURCES = tests/plugins/compaction-oneknob/oneknob.c
compaction_oneknob_la_LDFLAGS = $(DK_TEST_PLUGIN_LDOPTS)
