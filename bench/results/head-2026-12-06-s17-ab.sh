#!/bin/sh
# A/B: blob_head 0 vs 256, same build (/tmp/head-b), alternating.
B=/tmp/head-b
for r in 1 2 3 4; do
  for H in 0 256; do
    [ $((r % 2)) = 0 ] && H=$((256 - H))
    D=/tmp/head-bench/db-$H-$r; rm -rf $D; mkdir -p $D
    LA=$(cut -d' ' -f1-3 /proc/loadavg)
    $B/bench/engine/dk_bench --engine lsm --plugin-dir $B/.libs --db $D --value-size 10240 --num 20000 \
      --reads 40000 --benchmarks fillrandom,readrandom,readrandom,readhead --final-compact 0 \
      --set engine.lsm.blob_head=$H > /tmp/head-bench/out-$H-$r.txt 2>&1
    SST=$(du -cb $D/engine/*.sst | tail -1 | cut -f1); NSST=$(ls $D/engine/*.sst | wc -l)
    BLOB=$(du -cb $D/engine/*.blob | tail -1 | cut -f1)
    grep '^RESULT' /tmp/head-bench/out-$H-$r.txt | grep -v fillrandom | awk -v H=$H -v r=$r -v la="$LA" -v sst=$SST -v n=$NSST -v blob=$BLOB '
      { for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
        printf "round %s blob_head %s load %s %s cpu_us_op %s fg_cpu_us_op %s p50 %s tables_op %s | sst %s B in %s files, blob %s B\n",
          r, H, la, f["bench"], f["cpu_us_op"], f["fg_cpu_us_op"], f["p50_us"], f["get_tables"], sst, n, blob }'
    rm -rf $D
  done
done
