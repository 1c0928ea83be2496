# rules for bench: the engine benchmark (bench/engine/dk_bench), its smoke
# test and the script that runs it over every engine (bench/README.md).
# dk_bench is built by `make` but is not installed.
noinst_PROGRAMS += bench/engine/dk_bench
bench_engine_dk_bench_SOURCES = bench/engine/dk_bench.c bench/engine/bench.h bench/engine/options.c \
	bench/engine/run.h bench/engine/workload.c bench/engine/report.c \
	bench/engine/hist.c bench/engine/hist.h \
	bench/engine/sysstat.c bench/engine/sysstat.h
bench_engine_dk_bench_LDADD = framework/libdynkv.la -lm

# The sweep over policies x engines x workloads (bench/sweep/dk_sweep.py):
# its quick mode, and a check of the shape of its outputs, in the suite.
TESTS += bench/sweep/check-sweep.sh
dist_noinst_SCRIPTS += bench/sweep/check-sweep.sh bench/sweep/dk_sweep.py
EXTRA_DIST += bench/sweep/example.ini

# Well under a second with the memory engine, so the tool cannot rot unnoticed.
TESTS += bench/smoke.sh
dist_noinst_SCRIPTS += bench/smoke.sh bench/run-engines.sh
EXTRA_DIST += bench/engine/results-table.awk bench/README.md bench/rpc/cpu-per-put.py

# The open-loop HTTP load generator of bench/load and the scripts that drive it.
noinst_PROGRAMS += bench/load/dk_load
bench_load_dk_load_SOURCES = bench/load/dk_load.c bench/load/load.h bench/load/load_client.c \
	bench/load/load_report.c
bench_load_dk_load_CFLAGS = $(AM_CFLAGS) $(SSL_CFLAGS)
bench_load_dk_load_LDADD = $(HTTP_PARSER_LIBS) $(SSL_LIBS) $(CRYPTO_LIBS) -lm
dist_noinst_SCRIPTS += bench/load/run-node.sh bench/load/run-cluster.sh bench/metrics/compare.sh \
	bench/load/run-tls.sh bench/load/run-cpu.sh bench/load/run-cpu-cluster.sh bench/load/run-get-cluster.sh bench/load/loops.sh \
	bench/load/peak-prof.sh
EXTRA_DIST += bench/mem-bound.sh bench/load/common.sh bench/load/peer-dynomite.sh bench/load/README.md \
	bench/load/stall-trace.sh bench/load/stall-timeline.py bench/load/stall-sample.py \
	bench/load/stall-episode.py bench/load/stall-redis.sh bench/load/stall-disk-probe.py

# The metrics registry's cost per update (bench/metrics/README.md); built by
# `make`, not installed, run by hand.
noinst_PROGRAMS += bench/metrics/dk_metrics_bench
bench_metrics_dk_metrics_bench_SOURCES = bench/metrics/dk_metrics_bench.c
bench_metrics_dk_metrics_bench_LDADD = framework/libdynkv.la -lpthread

# The RPC frame MAC's CPU cost per frame (bench/results/rpc-auth-*.md);
# built by `make`, not installed, run by hand.
noinst_PROGRAMS += bench/rpc/dk_rpc_mac_bench
bench_rpc_dk_rpc_mac_bench_SOURCES = bench/rpc/dk_rpc_mac_bench.c
bench_rpc_dk_rpc_mac_bench_LDADD = framework/libdynkv.la

# The SDK's routing against a fixed coordinator (bench/sdk/run-sdk.sh).
noinst_PROGRAMS += bench/sdk/dkc_bench
bench_sdk_dkc_bench_SOURCES = bench/sdk/dkc_bench.c
bench_sdk_dkc_bench_CPPFLAGS = -I$(srcdir)/sdk $(AM_CPPFLAGS)
bench_sdk_dkc_bench_LDADD = sdk/libdynkv-client.la
dist_noinst_SCRIPTS += bench/sdk/run-sdk.sh

# The fault soak (bench/chaos/README.md): by hand only, never in `make check`
# (it needs root and takes minutes a round); skew.c is built by faults.py.
dist_noinst_SCRIPTS += bench/chaos/run-soak.sh bench/chaos/chaos.py bench/chaos/report.py \
	bench/chaos/rolling_restart.py
EXTRA_DIST += bench/chaos/README.md bench/chaos/check.py bench/chaos/faults.py bench/chaos/state.py \
	bench/chaos/workload.py bench/chaos/skew.c
