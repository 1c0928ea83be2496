# tests/plugins: plugins that exist for tests (a one-option policy, a
# policy built against the ABI 1.0 headers), each in its own folder with
# its own local.mk, and the test that runs dynkvd with them.
#   run-plugin-options.sh   plugin sections end to end: values from a file
#                           and --set, refusals with file:line, ABI 1.0
# Run alone with: make check TESTS=tests/plugins/run-plugin-options.sh
TESTS += tests/plugins/run-plugin-options.sh
dist_noinst_SCRIPTS += tests/plugins/run-plugin-options.sh
