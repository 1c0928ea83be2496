# framework/http rules
