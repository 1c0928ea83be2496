# rules for conflict
