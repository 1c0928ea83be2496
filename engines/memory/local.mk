# rules for engines/memory
