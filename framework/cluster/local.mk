# framework/cluster: a node's cluster half on loop 0: gossip membership, the
# ring view built from it, the member table persisted in the catalog, RPC
# and the coordinator started and stopped together.
framework_libdynkv_la_SOURCES += \
	framework/cluster/cluster.c framework/cluster/cluster.h
