/*
 * metrics_help.c - the HELP texts of the named series (metrics_int.h).
 *
 * A table searched by name when a series is created (once per name, so a
 * linear scan is enough); kept apart from metrics.c because it grows with
 * every counter a subsystem adds, and the registry's code does not.
 */
#include <string.h>

#include "base/metrics_int.h"

typedef struct known_metric {
    const char *name; /* as passed to dk_metrics_add / _set_* */
    const char *help;
} known_metric;

/* HELP texts of the names the framework and its plugins use. A name missing
 * here still renders, with a generic HELP line; add a row when adding a
 * counter. Kept sorted by name for the reader, not for lookup. */
static const known_metric known[] = {
    {"cleanup_keys_dropped_total", "Keys dropped by cleanup because this node no longer owns them."},
    {"coord_digest_mismatches_total",
     "Digest reads whose digests (or presence) differed from this node's copy, "
     "or failed: the read fell back to full reads of every replica."},
    {"coord_digest_reads_total", "Replicas asked for a digest of their copy rather than the copy (quorum "
                                 "reads that read this node's copy first)."},
    {"coord_forwards_refused_total", "Forwarded writes a replica refused because it was stopping or "
                                     "starting (nothing applied there): sent on to the next replica."},
    {"coord_forwards_total", "Writes forwarded to a replica of the key because this node is not one."},
    {"coord_pending_writes_total", "Writes also sent to pending replicas of a range being streamed."},
    {"coord_reads_total", "Reads this node coordinated."},
    {"coord_reads_widened_total", "Reads that asked every replica, not only R (answers differed, or sampled "
                                  "by read_repair_percent)."},
    {"coord_unavailable_total", "Requests answered 503 because too few replicas answered."},
    {"coord_writes_total", "Writes (PUT, DELETE) this node coordinated."},
    {"coord_writes_worker_total",
     "Local writes of coordinated writes run on a worker thread because the loop "
     "could not start them without blocking (CAS, key busy, copy not in memory)."},
    {"decommission_handed_off",
     "1 once this node is left and has handed everything off: it can be stopped (cluster/leaver.h)."},
    {"engine_keys", "Keys the memory engine holds."},
    {"engine_bytes", "Bytes of keys and values the memory engine holds."},
    {"storage_block_cache_size_bytes", "The block cache size the engine was opened with ([storage] "
                                       "block_cache_size; auto sizes it from memory)."},
    {"engine_lsm_block_cache_bytes", "Bytes held by the LSM engine's block cache."},
    {"engine_lsm_block_cache_hits_total", "LSM block cache lookups that found the block."},
    {"engine_lsm_block_cache_misses_total", "LSM block cache lookups that read the block from disk."},
    {"engine_lsm_blob_bytes", "Bytes of LSM blob files (large values kept apart from the tables) on disk."},
    {"engine_lsm_blob_cache_hits_total", "LSM blob value reads found in the block cache."},
    {"engine_lsm_blob_corrupt_total", "LSM blob records or files that failed their checks when read."},
    {"engine_lsm_blob_files", "LSM blob files open (each holds a descriptor)."},
    {"engine_lsm_blob_files_direct_total",
     "LSM blob files flushes and compactions wrote around the page cache (blob_direct_io)."},
    {"engine_lsm_blob_flush_bytes_total",
     "Bytes flushes wrote to LSM blob files (part of engine_lsm_flush_bytes_total)."},
    {"engine_lsm_blob_gc_bytes_total",
     "Bytes compactions wrote to LSM blob files relocating live values (garbage collection)."},
    {"engine_lsm_blob_gc_records_total", "Values LSM compactions relocated to new blob files."},
    {"engine_lsm_blob_live_bytes", "Bytes of LSM blob records the current tables reference (the rest of "
                                   "engine_lsm_blob_bytes is garbage)."},
    {"engine_lsm_blob_read_bytes_total", "Bytes read from LSM blob files."},
    {"engine_lsm_blob_reads_total", "LSM blob value reads from files (block cache misses)."},
    {"engine_lsm_compaction_moves_total",
     "LSM compactions that moved a table to another level without rewriting it."},
    {"engine_lsm_compaction_paced_us_total",
     "Time LSM compaction slept to keep to [engine.lsm] compaction_rate_limit."},
    {"engine_lsm_compaction_read_bytes_total", "Bytes LSM compactions read."},
    {"engine_lsm_compaction_records_dropped_total",
     "Records LSM compactions dropped (overwritten, expired, purged)."},
    {"engine_lsm_compaction_write_bytes_total", "Bytes LSM compactions wrote."},
    {"engine_lsm_compactions_total", "LSM compactions completed."},
    {"engine_lsm_corrupt_blocks_total", "LSM blocks that failed their checksum."},
    {"engine_lsm_files", "LSM tables on disk."},
    {"engine_lsm_files_dropped_total", "LSM tables dropped whole by the compaction policy."},
    {"engine_lsm_flush_bytes_total", "Bytes of memtables flushed to tables."},
    {"engine_lsm_flushes_total", "Memtables flushed to tables."},
    {"engine_lsm_flush_pace_lifts_total", "Paced LSM flushes hurried because a writer or a flush() would "
                                          "otherwise wait for them."},
    {"engine_lsm_flush_paced_us_total",
     "Time the LSM flush slept to spread a table's writes over part of the "
     "next memtable's fill time (flush_pace.c)."},
    {"engine_lsm_get_blocks_read_total", "Blocks LSM point lookups read from table files (cache misses)."},
    {"engine_lsm_get_bytes_read_total", "Bytes LSM point lookups read from table files."},
    {"engine_lsm_get_heads_total",
     "LSM reads of a value's first bytes (DK_GET_HEAD) answered from the blob reference's head, no "
     "blob file read (blob_head)."},
    {"engine_lsm_get_memo_hits_total",
     "LSM point lookups the lookup memo answered, no table searched (lookup_memo)."},
    {"engine_lsm_get_tables_total", "Tables LSM point lookups consulted (bloom filter checked)."},
    {"engine_lsm_gets_total", "LSM point lookups."},
    {"engine_lsm_group_commit_early_ends_total",
     "LSM group-commit windows cut short because every writer in flight had joined."},
    {"engine_lsm_group_commit_wait_us_total", "Time the LSM WAL thread waited in group-commit windows."},
    {"engine_lsm_group_commit_waits_total",
     "LSM write groups whose fdatasync waited in a group-commit window for more writers."},
    {"engine_lsm_iter_blocks_read_total", "Blocks LSM iterator seeks and nexts read from table files."},
    {"engine_lsm_iter_bytes_read_total", "Bytes LSM iterator seeks and nexts read from table files."},
    {"engine_lsm_iter_seeks_total", "LSM iterator seeks."},
    {"engine_lsm_last_sequence", "The LSM engine's last sequence number."},
    {"engine_lsm_memtable_bytes", "Bytes in the LSM memtables (active and immutable)."},
    {"engine_lsm_pinned_index_filter_bytes", "Bytes of index and filter blocks pinned in memory."},
    {"engine_lsm_readonly", "1 when the LSM engine refuses writes after an I/O error, or until a retry "
                            "succeeds after running out of disk space or descriptors."},
    {"engine_lsm_readonly_retrying", "1 while the LSM engine refuses writes for a transient cause (disk "
                                     "space, descriptors) it retries on its own."},
    {"engine_lsm_table_bytes", "Bytes of LSM tables on disk."},
    {"engine_lsm_wal_bytes_dropped_total", "Bytes of torn WAL tails dropped at recovery."},
    {"engine_lsm_wal_bytes_total", "Bytes written to the LSM write-ahead log."},
    {"engine_lsm_wal_switch_us_total",
     "Time LSM writers waited for memtable switches and for settling the WAL a switch left behind."},
    {"engine_lsm_wal_switches_prepared_total",
     "LSM memtable switches into a WAL the flush thread had prepared (no I/O on the write path)."},
    {"engine_lsm_wal_switches_total", "LSM memtable switches (each starts a new WAL)."},
    {"engine_lsm_wal_syncs_total", "fdatasync calls on the LSM write-ahead log."},
    {"engine_lsm_wal_sync_us_total", "Time the LSM write groups spent in the WAL's fdatasync."},
    {"engine_lsm_wal_sync_max_us", "The longest WAL fdatasync of a write group since the engine opened."},
    {"engine_lsm_wal_syncs_le_1ms_total", "WAL fdatasyncs of write groups that took at most 1 ms."},
    {"engine_lsm_wal_syncs_le_4ms_total", "WAL fdatasyncs of write groups that took at most 4 ms."},
    {"engine_lsm_wal_syncs_le_16ms_total", "WAL fdatasyncs of write groups that took at most 16 ms."},
    {"engine_lsm_wal_syncs_le_64ms_total", "WAL fdatasyncs of write groups that took at most 64 ms."},
    {"engine_lsm_wal_yield_timeouts_total", "LSM flush/compaction writeback steps that gave up waiting for a "
                                            "WAL fdatasync after 10 ms (io_yield.c)."},
    {"engine_lsm_wal_yield_us_total",
     "Time LSM flush/compaction writeback steps waited for a WAL fdatasync."},
    {"engine_lsm_wal_yields_total", "LSM flush/compaction writeback steps that waited for a WAL fdatasync."},
    {"engine_lsm_write_groups_total", "LSM write groups (batches sharing one WAL write)."},
    {"engine_lsm_write_retries_total",
     "Retries of a failed LSM write, switch or flush (out of disk space or descriptors)."},
    {"engine_lsm_write_slowdowns_total", "1 ms slowdowns of writers while compaction is behind."},
    {"engine_lsm_write_stall_us_total", "Time writers waited for memtable room, switches and slowdowns."},
    {"gossip_bad_messages_total", "Gossip messages dropped as malformed, with a bad checksum or a bad MAC."},
    {"gossip_dead_pings_total",
     "Gossip messages sent to members recently marked down (a member only cut off learns it and refutes)."},
    {"gossip_down_total", "Members this node marked down."},
    {"gossip_indirect_probes_total", "Indirect gossip probes (PING-REQ) sent."},
    {"gossip_probe_acks_total", "Gossip probe cycles answered, directly or indirectly."},
    {"gossip_probes_total", "Gossip probes (PING) sent."},
    {"gossip_pushpull_failures_total", "Full-state gossip exchanges started here that failed."},
    {"gossip_pushpull_total", "Full-state gossip exchanges completed."},
    {"gossip_refutations_total", "Times this node refuted a suspicion about itself."},
    {"gossip_stale_verdicts_total",
     "Peers' suspect or down verdicts not applied: this node had heard from the member itself since."},
    {"gossip_suspicions_total", "Members this node marked suspect."},
    {"gossip_wrong_cluster_total", "Gossip messages from another cluster name."},
    {"hints_disk_bytes", "Bytes the hint store occupies on disk (hints waiting for their targets)."},
    {"hints_dropped_total", "Hints dropped because they were older than hint_window."},
    {"hints_pending", "Hints this node holds that are not delivered yet (a leaver hands off at 0)."},
    {"hints_replayed_total", "Hints delivered to their target and deleted."},
    {"hints_stored_total", "Hints stored for replicas that could not take a write."},
    {"http_accept_errors_total",
     "HTTP accept() failures (EMFILE, ENFILE, ...); pending connections were dropped."},
    {"http_connections_open", "HTTP connections open now (refused ones until they close)."},
    {"http_connections_refused_total",
     "HTTP connections answered 503 (or closed) over [node] max_connections."},
    {"http_output_queued_bytes", "Response bytes answered and not yet written to slow readers."},
    {"http_slow_readers_closed_total",
     "HTTP connections closed at [node] max_output_total for not reading their answers."},
    {"http_tls_handshake_failures_total", "HTTPS connections closed because their TLS handshake failed "
                                          "(plain HTTP, old TLS version, untrusted client, bad record)."},
    {"lsm_corrupt_blocks_total", "LSM blocks that failed their checksum."},
    {"lsm_wal_bytes_dropped_total", "Bytes of torn WAL tails dropped at recovery."},
    {"merkle_rebuilds_total", "Anti-entropy Merkle trees rebuilt from a snapshot."},
    {"merges_resolved_total", "Merges of two concurrent copies of a key decided by the conflict resolver."},
    {"merges_superseded_total", "Merges where one copy superseded the other and was kept as it came."},
    {"read_repairs_total", "Stale replicas repaired after a read."},
    {"replica_reads_total", "Copies of keys this node read as a replica for a coordinator (its own reads "
                            "included)."},
    {"replica_writes_worker_total", "Replica writes merged on a worker thread because the loop could not "
                                    "start them without blocking (key busy, copy not in memory)."},
    {"repair_exchanges_completed_total", "Anti-entropy exchanges completed."},
    {"repair_exchanges_failed_total", "Anti-entropy exchanges that failed."},
    {"repair_exchanges_started_total", "Anti-entropy exchanges started."},
    {"repair_keys_received_total", "Keys received by anti-entropy repair."},
    {"repair_keys_sent_total", "Keys sent by anti-entropy repair."},
    {"repair_leaves_settled_total", "Tree leaves that differed between replicas at an exchange's first look "
                                    "and agreed after the settle, so no scan listed their keys."},
    {"repair_repaired_before_ms", "Time (Unix) before which every write has been repaired everywhere."},
    {"ring_move_in_progress", "1 while this node moves ranges (join, leave, decommission)."},
    {"ring_moves_completed_total", "Range moves this node completed."},
    {"ring_pending_ranges", "Token ranges with pending replicas while a ring move is under way."},
    {"ring_version", "Version of the ring this node routes with."},
    {"rpc_auth_failures_total", "RPC handshake proofs or frame MACs that failed: a peer without the cluster "
                                "key, or a forged or replayed frame."},
    {"rpc_bad_frames_total", "RPC connections closed for a malformed frame."},
    {"rpc_connect_failures_total", "Outbound RPC connects that failed or timed out."},
    {"rpc_connections_accepted_total", "Inbound RPC connections accepted."},
    {"rpc_connections_established_total", "Outbound RPC connections that completed the handshake."},
    {"rpc_connections_open", "RPC connections open now, both directions."},
    {"rpc_connections_rejected_total", "Inbound RPC connections closed at once: over max_rpc_connections, or "
                                       "not from loopback in protected mode."},
    {"rpc_frame_timeouts_total",
     "RPC connections closed because a frame was not completed within request_timeout."},
    {"rpc_handshake_failures_total", "RPC handshakes refused or failed, either side."},
    {"rpc_late_replies_total", "RPC answers that arrived after their request gave up."},
    {"rpc_relayed_total", "RPC requests that arrived on another loop's connection and were served by the "
                          "cluster loop (loop 0)."},
    {"rpc_requests_received_total", "RPC requests (frames) handed to this node's handlers."},
    {"rpc_requests_sent_total", "RPC requests (frames) sent to other nodes."},
    {"rpc_timeouts_total", "RPC requests that passed their deadline."},
    {"rpc_wrong_cluster_total", "RPC handshakes with a node of another cluster name."},
    {"scan_failovers_total", "Scan ranges re-read from another replica after a failure."},
    {"scan_incomplete_total", "Scan pages answered 206 because some range had no live replica."},
    {"scan_parts_served_total", "Scan parts this node read for a coordinator."},
    {"scan_rpcs_total", "Scan requests sent to replicas."},
    {"scans_total", "Scan pages this node coordinated."},
    {"stream_bytes_received_total", "Bytes received by range streaming."},
    {"stream_bytes_sent_total", "Bytes sent by range streaming."},
    {"stream_keys_received_total", "Keys received by range streaming."},
    {"stream_keys_sent_total", "Keys sent by range streaming."},
    {"stream_ranges_pending", "Ranges waiting to be streamed to this node."},
    {"streams_in_flight", "Range streams running now."},
    {"tombstones_kept_unrepaired_total", "Tombstones past gc_grace kept because no repair covered them yet."},
    {"store_async_stripe_busy_total",
     "Non-blocking writes that found their key's stripe lock held (by a write "
     "in flight on the same stripe) and went to a worker."},
    {"store_head_merges_total", "Replica copies stored as they came because the stored object's head "
                                "(its version fields, read without its values) showed they supersede it."},
    {"store_head_writes_total", "Client writes built from the stored object's head (its version fields, "
                                "read without its values: the resolver needs none for them)."},
    {"store_try_read_blocked_total",
     "Non-blocking reads before a write that needed the disk (the write went to "
     "a worker)."},
    {"tombstones_purged_total", "Tombstones purged by compaction."},
};

const char *dk__metrics_help(const char *name)
{
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(known[i].name, name) == 0)
            return known[i].help;
    return NULL;
}
