# framework/object rules
