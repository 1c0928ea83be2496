# rules for compaction
