# rules for engines/lsm
