/*
 * dynkvd_tools.h - the subcommands of dynkvd that exit without starting a
 * node: `dynkvd token NAME ROLE` and `dynkvd keygen PATH` make a secret,
 * `dynkvd --check-config FILE` checks a configuration. main() dispatches on argv[1]; each returns the
 * process's exit status (0, 1 on a failure to make or write the secret,
 * 2 on a usage error). Main thread, before anything else starts.
 */
#ifndef DK_DYNKVD_TOOLS_H
#define DK_DYNKVD_TOOLS_H

/* dynkvd token NAME ROLE: a new token (32 random bytes, base64url) on
 * the first line of stdout, "NAME ROLE SHA256-HEX" (the line for the
 * [security] tokens_file) on the second. */
int dynkvd_token(int argc, char **argv);

/* dynkvd keygen PATH: a new cluster key file ([security]
 * cluster_key_file; mode 0600, never over an existing file). */
int dynkvd_keygen(int argc, char **argv);

/* dynkvd --check-config FILE [--set ...]: every configuration error and
 * every plugin, tokens file or certificate that does not load on stderr,
 * one per line; touches no data directory. 0 valid, 2 not. */
int dynkvd_check_config(int argc, char **argv);

#endif
