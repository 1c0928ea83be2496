# framework/cluster: a node's cluster half on loop 0: gossip membership, the
# ring view built from it, the member table persisted in the catalog, RPC
# and the coordinator started and stopped together (and a coordinator per
# other loop thread, loops.c); the ring transition
# (pending ranges) and its unit test.
framework_libdynkv_la_SOURCES += \
	framework/cluster/cluster.c framework/cluster/cluster.h \
	framework/cluster/loops.c framework/cluster/loops.h framework/cluster/loops_int.h \
	framework/cluster/loops_rpc.c \
	framework/cluster/pending.c framework/cluster/pending.h \
	framework/cluster/rebalance.c framework/cluster/rebalance.h \
	framework/cluster/handoff_wait.c framework/cluster/handoff_wait.h \
	framework/cluster/read_fence.c framework/cluster/read_fence.h \
	framework/cluster/leaver.c framework/cluster/leaver.h

check_PROGRAMS += tests/unit/test-pending
TESTS += tests/unit/test-pending

tests_unit_test_pending_SOURCES = tests/unit/test-pending.c tests/unit/cu_main.h
tests_unit_test_pending_CFLAGS = $(DK_UNIT_CC)
tests_unit_test_pending_LDADD = $(DK_UNIT_LINK)
