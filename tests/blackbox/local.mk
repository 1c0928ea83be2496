# rules for tests/blackbox: the dynkvd black-box suite (pytest driving real
# daemons over HTTP).  The wrapper prints the "# dk-summary" line that
# tests/summary.sh adds up; run it alone with
#   make check TESTS=tests/blackbox/run-blackbox.sh
TESTS += tests/blackbox/run-blackbox.sh
dist_noinst_SCRIPTS += tests/blackbox/run-blackbox.sh
EXTRA_DIST += tests/blackbox/conftest.py tests/blackbox/dkbb.py \
	tests/blackbox/test_kv.py tests/blackbox/test_conflict.py \
	tests/blackbox/test_scan.py tests/blackbox/test_http.py \
	tests/blackbox/test_ops.py tests/blackbox/test_health.py \
	tests/blackbox/test_metrics.py tests/blackbox/test_process.py tests/blackbox/test_ui.py \
	tests/blackbox/test_crdt.py tests/blackbox/test_snapshot.py tests/blackbox/test_maint.py tests/blackbox/test_limits.py \
	tests/blackbox/test_auth.py tests/blackbox/test_tls.py tests/blackbox/test_resources.py \
	tests/blackbox/test_sdk_tls.py
dist_noinst_SCRIPTS += tests/run-pytest.sh scripts/get-promtool.sh

# lsm checkpoints without a blob file (engines/lsm/checkpoint.c)
EXTRA_DIST += tests/blackbox/test_snapshot_blob.py

# blob_direct_io through SIGKILLs (engines/lsm/env_posix.c create_direct)
EXTRA_DIST += tests/blackbox/test_direct_crash.py
