# rules for tests/cluster: the cluster suite (pytest driving several real
# dynkvd processes on 127.0.x.y through tools/dynkv-cluster; the CLI tests
# use client/dynkv; test_netns.py runs nodes in network namespaces on
# 10.77.0.x through netns.py and skips where namespaces cannot be made).
# The wrapper prints the "# dk-summary" line that tests/summary.sh adds up.
# make check runs the suite as two halves side by side (run-cluster-1.sh,
# run-cluster-2.sh; conftest.py says which modules each runs); the whole
# suite alone with
#   make check TESTS=tests/cluster/run-cluster.sh
TESTS += tests/cluster/run-cluster-1.sh tests/cluster/run-cluster-2.sh
dist_noinst_SCRIPTS += tests/cluster/run-cluster.sh tests/cluster/run-cluster-1.sh \
	tests/cluster/run-cluster-2.sh
EXTRA_DIST += tests/cluster/conftest.py tests/cluster/dkcluster.py \
	tests/cluster/partition_driver.py tests/cluster/test_form.py \
	tests/cluster/test_failover.py tests/cluster/test_conflict.py \
	tests/cluster/test_strict.py tests/cluster/test_partition.py \
	tests/cluster/test_cli.py tests/cluster/test_scan.py \
	tests/cluster/test_antientropy.py tests/cluster/test_membership_change.py \
	tests/cluster/test_stream_resume.py tests/cluster/test_tool.py \
	tests/cluster/test_ops_cli.py tests/cluster/test_ui.py tests/cluster/test_crdt.py \
	tests/cluster/test_gossip_auth.py tests/cluster/test_snapshot.py \
	tests/cluster/test_limits.py tests/cluster/test_seeds.py \
	tests/cluster/test_rpc_auth.py tests/cluster/rpcforge.py \
	tests/cluster/test_sdk.py tests/cluster/test_rpc_tls.py tests/cluster/test_identity.py \
	tests/cluster/netns.py tests/cluster/test_netns.py \
	tests/cluster/test_read_path.py tests/cluster/test_session.py \
	tests/cluster/test_read_fence.py tests/cluster/test_replica_durable.py \
	tests/cluster/test_loops.py tests/cluster/test_decommission_handoff.py
# test_ui.py leaves its Chromium screenshots in the build folder to be looked at.
CLEANFILES += tests/cluster/ui-dashboard*.png
