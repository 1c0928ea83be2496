# man: the manual pages of the installed programs. The sources are
# man/*.1.in; the installed paths (plugin folder, example configuration)
# are filled in at build time, so a page tells the truth about its install.
man1_MANS = man/dynkvd.1 man/dynkv.1 man/dynkv-cluster.1 man/dynkv-engine-check.1
EXTRA_DIST += man/dynkvd.1.in man/dynkv.1.in man/dynkv-cluster.1.in man/dynkv-engine-check.1.in
CLEANFILES += $(man1_MANS)
$(man1_MANS): Makefile
	$(AM_V_GEN)$(MKDIR_P) man && \
	sed -e 's|@PLUGINDIR[@]|$(plugindir)|g' -e 's|@PKGDATADIR[@]|$(pkgdatadir)|g' \
	    $(srcdir)/$@.in >$@.tmp && mv $@.tmp $@
man/dynkvd.1: $(srcdir)/man/dynkvd.1.in
man/dynkv.1: $(srcdir)/man/dynkv.1.in
man/dynkv-cluster.1: $(srcdir)/man/dynkv-cluster.1.in
man/dynkv-engine-check.1: $(srcdir)/man/dynkv-engine-check.1.in
