# framework/base rules
