# framework/api: the HTTP routes, one concept a file (api_int.h lists
# them): the router and what routes share (api.c), GET/PUT/DELETE
# /kv/{key} and /crdt/{key} (kv.c, api_crdt.c), the prefix scan (scan.c),
# the /admin/ verbs (admin.c, api_snapshot.c, api_maint.c,
# api_loglevel.c, api_repair.c), the operator's views (api_ops.c),
# /metrics (api_metrics.c), client tokens (auth.c), readiness (health.c),
# JSON helpers.
framework_libdynkv_la_SOURCES += \
	framework/api/api.c framework/api/api.h framework/api/api_int.h \
	framework/api/kv.c framework/api/scan.c framework/api/api_crdt.c \
	framework/api/api_json.c framework/api/api_json.h framework/api/api_metrics.c \
	framework/api/health.c framework/api/health.h framework/api/api_ops.c \
	framework/api/api_repair.c framework/api/admin.c framework/api/api_snapshot.c framework/api/api_loglevel.c \
	framework/api/api_maint.c framework/api/api_session.c framework/api/api_ring.c \
	framework/api/auth.c framework/api/auth.h

check_PROGRAMS += tests/unit/test-auth
TESTS += tests/unit/test-auth
tests_unit_test_auth_SOURCES = tests/unit/test-auth.c tests/unit/cu_main.h
tests_unit_test_auth_CFLAGS = $(DK_UNIT_CC)
tests_unit_test_auth_LDADD = $(DK_UNIT_LINK)

# The dashboard page, embedded at build time (framework/api/ui.h).
nodist_framework_libdynkv_la_SOURCES = framework/api/ui_index.c
framework_libdynkv_la_SOURCES += framework/api/ui.h
CLEANFILES += framework/api/ui_index.c
EXTRA_DIST += framework/api/ui/index.html scripts/embed.sh
framework/api/ui_index.c: $(srcdir)/framework/api/ui/index.html $(srcdir)/scripts/embed.sh
	$(AM_V_GEN)$(MKDIR_P) framework/api && \
	$(SHELL) $(srcdir)/scripts/embed.sh dk_ui_index $(srcdir)/framework/api/ui/index.html >$@.tmp && \
	mv $@.tmp $@
