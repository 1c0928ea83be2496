# rules for client
