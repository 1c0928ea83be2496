# rules for tests/vendor: the examples/ folder is tested like code.
#   run-examples.sh  every example INI file starts a node; the three-node
#                    files form a cluster that replicates a write
#   run-vendor.sh    examples/vendor-engine builds out of tree against this
#                    build installed into a temporary prefix, passes the
#                    engine conformance suite, and serves through dynkvd
# Run alone with: make check TESTS='tests/vendor/run-examples.sh tests/vendor/run-vendor.sh'
TESTS += tests/vendor/run-examples.sh tests/vendor/run-vendor.sh
dist_noinst_SCRIPTS += tests/vendor/run-examples.sh tests/vendor/run-vendor.sh
EXTRA_DIST += tests/vendor/lib.sh \
	examples/three-node/n1.ini examples/three-node/n2.ini examples/three-node/n3.ini \
	examples/vendor-engine/configure.ac examples/vendor-engine/Makefile.am \
	examples/vendor-engine/vendorlog.c examples/vendor-engine/README.md
