# rules for tools: dynkv-cluster, the local N-node cluster command (a Python
# script run from the source tree, a build tree or after `make install`,
# where it finds dynkvd next to itself in $(bindir)).  Makefile.am does not
# initialise dist_bin_SCRIPTS, so this fragment is its one definition.
dist_bin_SCRIPTS = tools/dynkv-cluster
