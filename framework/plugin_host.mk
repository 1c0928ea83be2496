# framework/plugin_host rules
