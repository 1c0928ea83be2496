/*
 * fake_host.h - a small dk_host for plugin unit tests (collectd's mock host).
 *
 * Logs go to stderr (never stdout) and the last message is kept so a test
 * can assert on it; allocation is plain malloc; clocks are the real ones;
 * record_filter keeps every record; record_time answers 0/0; metric_add
 * adds into a small table a test can query. The ABI 1.1 functions are the
 * node's own (framework/node/host.c): options come from a small config a
 * test fills with dk_fake_host_set_option (section [engine.fake] whatever
 * the plugin's kind), configuration errors are kept for
 * dk_fake_host_conf_error, strerror/err_name/object are the framework's,
 * and codec_open loads codec plugins from dk_plugin_default_dir()
 * ($DYNKV_PLUGIN_PATH under make check). Every function is thread-safe.
 *
 * Use: declare a dk_fake_host, dk_fake_host_init() it, pass &fh.host to a
 * plugin's open(), dk_fake_host_destroy() after the plugin object is closed.
 */
#ifndef DK_TEST_FAKE_HOST_H
#define DK_TEST_FAKE_HOST_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include "dynkv/types.h"
#include "base/config.h"
#include "node/host.h"
#include "plugin/plugin_host.h"

#define DK_FAKE_HOST_METRICS 64
#define DK_FAKE_HOST_MSG 1024

typedef struct dk_fake_metric {
    char name[64];
    uint64_t value;
} dk_fake_metric;

typedef struct dk_fake_host {
    dk_host host;            /* first: plugins get &fh->host */
    dk_host_ctx ctx;         /* the node host's view: options, errors, codecs */
    dk_config cfg;           /* holds the options of [engine.fake] */
    dk_plugin_host *plugins; /* codec plugins; NULL when none could be found */
    pthread_mutex_t lock;
    char last[DK_FAKE_HOST_MSG]; /* last logged message, NUL-terminated */
    int last_level;
    uint64_t n_logs;
    dk_fake_metric metrics[DK_FAKE_HOST_METRICS];
    size_t n_metrics;
    uint64_t metrics_dropped; /* adds that found the table full */
} dk_fake_host;

/* Fill fh with the fake API. Thread: any; before first use. */
void dk_fake_host_init(dk_fake_host *fh);
/* Release what init took. After every plugin object using it is closed. */
void dk_fake_host_destroy(dk_fake_host *fh);
/* Copy the last logged message into buf (empty when nothing was logged);
 * returns its level, or -1 when nothing was logged. */
int dk_fake_host_last_log(dk_fake_host *fh, char *buf, size_t len);
/* Number of messages logged so far. */
uint64_t dk_fake_host_log_count(dk_fake_host *fh);
/* Sum of every metric_add(name, ...) so far; 0 for a name never added. */
uint64_t dk_fake_host_metric(dk_fake_host *fh, const char *name);
/* Forget logs, metrics, options and the configuration error. */
void dk_fake_host_reset(dk_fake_host *fh);

/* Set one option the plugin will read through host->options (as if
 * "[engine.fake] key = value" were in a file). Returns 0 or DK_ECONFIG.
 * Not while a plugin is being opened against fh. */
int dk_fake_host_set_option(dk_fake_host *fh, const char *key, const char *value);

/* The configuration error the plugin caused (options or conf_error), ""
 * when none; valid until the next open or reset. */
const char *dk_fake_host_conf_error(const dk_fake_host *fh);

#endif
