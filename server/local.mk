# rules for server
