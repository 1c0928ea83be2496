# framework/api: the HTTP routes: parsing and hand-off on the loop (api.c),
# store calls and rendering on workers (api_worker.c, api_scan.c), the
# /crdt/ routes (api_crdt.c), /admin/repair on the cluster loop
# (api_repair.c), the ring-move verbs (admin.c), snapshots
# (api_snapshot.c), log levels (api_loglevel.c), JSON helpers.
framework_libdynkv_la_SOURCES += \
	framework/api/api.c framework/api/api.h framework/api/api_int.h \
	framework/api/api_worker.c framework/api/api_scan.c framework/api/api_crdt.c \
	framework/api/api_json.c framework/api/api_json.h \
	framework/api/health.c framework/api/health.h framework/api/api_ops.c \
	framework/api/api_repair.c framework/api/admin.c framework/api/api_snapshot.c framework/api/api_loglevel.c \
	framework/api/api_maint.c framework/api/api_session.c \
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
