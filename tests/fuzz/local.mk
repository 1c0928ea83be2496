# rules for tests/fuzz: run-fuzz.sh builds every libFuzzer target listed in
# tests/fuzz/targets.txt with clang's sanitizers and fuzzes each for a slice
# of DK_FUZZ_SECONDS (default 20 s in all); see the script's header for
# running a target longer by hand and adding a crash to the corpus.
# Run alone with: make check TESTS=tests/fuzz/run-fuzz.sh
# Each target's tests/fuzz/fuzz-<name>.c must be added to EXTRA_DIST here
# (distcheck builds the targets from the tarball); the corpus folder is
# distributed whole.
TESTS += tests/fuzz/run-fuzz.sh
dist_noinst_SCRIPTS += tests/fuzz/run-fuzz.sh
EXTRA_DIST += tests/fuzz/targets.txt tests/fuzz/corpus
CLEANFILES += tests/fuzz/artifacts/*
# the sources of the targets listed in targets.txt
EXTRA_DIST += tests/fuzz/fuzz-rpc-frame.c tests/fuzz/fuzz-object.c
EXTRA_DIST += tests/fuzz/fuzz-http.c
EXTRA_DIST += tests/fuzz/fuzz-config.c
EXTRA_DIST += tests/fuzz/fuzz-crdt.c
EXTRA_DIST += tests/fuzz/fuzz-context.c
