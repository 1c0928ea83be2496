# rules for deploy: the systemd unit (installed), the container image and
# Kubernetes manifests (distributed; built and applied by hand, see
# deploy/README.md) and the tests that check them without a daemon.
systemdsystemunit_DATA = deploy/systemd/dynkvd.service
dynkvconfdir = $(sysconfdir)/dynkv
dist_dynkvconf_DATA = deploy/systemd/node.ini.example
CLEANFILES += deploy/systemd/dynkvd.service
EXTRA_DIST += deploy/systemd/dynkvd.service.in deploy/README.md \
	deploy/docker/Dockerfile deploy/docker/node.ini \
	deploy/kubernetes/dynkv.yaml

# Paths are substituted at make time (they hold ${prefix} until then).
deploy/systemd/dynkvd.service: $(srcdir)/deploy/systemd/dynkvd.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) deploy/systemd && \
	sed -e 's|@bindir[@]|$(bindir)|g' -e 's|@sysconfdir[@]|$(sysconfdir)|g' \
	    -e 's|@docdir[@]|$(docdir)|g' $(srcdir)/deploy/systemd/dynkvd.service.in >$@.tmp && \
	mv $@.tmp $@

TESTS += tests/deploy/run-deploy.sh
dist_noinst_SCRIPTS += tests/deploy/run-deploy.sh deploy/docker/entrypoint.sh deploy/docker/prestop.sh
EXTRA_DIST += tests/deploy/conftest.py tests/deploy/test_systemd.py tests/deploy/test_manifests.py
