# rules for bench
