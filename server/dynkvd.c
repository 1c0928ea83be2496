/*
 * dynkvd.c - the dynkv node daemon.
 *
 * Start-up runs on the main thread: configuration (exit 2 on a bad one,
 * including a plugin's own options, which dk_node_open checks),
 * the log, the node's plugins, catalog and store (dk_node_open), then one
 * libuv loop per configured loop thread, each with its own HTTP server on
 * one shared listening socket. Engine work runs on libuv's worker pool,
 * sized from node.worker_threads.
 *
 * SIGTERM/SIGINT drain: readiness fails at once, every server stops
 * accepting and finishes the requests in flight (a request that is still
 * arriving included), the cluster stops, the loops end, the engine flushes
 * its memtable and the node exits 0. If the requests in flight are not done
 * within [node] drain_timeout, the node exits 1 without waiting for them
 * (what was acknowledged is durable in the WAL). A second signal exits at
 * once with 1.
 *
 * SIGHUP re-reads the command line's configuration on a worker and reopens
 * the log file with its log_file and log_level (logrotate renames the file
 * and sends SIGHUP), and reloads the HTTPS certificate and key ([security]
 * tls_cert_file, tls_key_file): new connections get the new ones, open
 * connections keep theirs; files that do not load keep the old ones. Other
 * changed keys need a restart. A configuration that no longer loads keeps
 * the old settings (and still reopens the log and reloads the certificate).
 *
 * With tls_cert_file and tls_key_file the HTTP listener speaks HTTPS only
 * (framework/http/tls.h); files that do not load, or a key that does not
 * match the certificate, refuse the start (exit 2). tls_ca_file as well
 * makes RPC mutual TLS (framework/rpc/rpc_tls.h), checked the same way at
 * start; SIGHUP reloads the three files for new RPC connections.
 *
 * With [security] tokens_file, clients authenticate with bearer tokens
 * (framework/api/auth.h): the file loads before anything else starts (a
 * malformed line exits 2 with "file:line: ..."), every loop's API checks
 * against the same table, and SIGHUP re-reads the file (the path itself
 * needs a restart); a file that no longer loads keeps the old table and
 * says so in the log.
 *
 * `dynkvd token NAME ROLE` and `dynkvd keygen PATH` make a client token
 * and a cluster key file and exit without starting anything
 * (dynkvd_tools.c).
 *
 * `dynkvd --check-config FILE [--set ...]` reports every configuration
 * error and every plugin that does not load, touches no data directory,
 * and exits 0 (valid) or 2 (dynkvd_tools.c).
 *
 * Under systemd (Type=notify, built with libsystemd) the node says READY=1
 * once readiness holds (the checks of GET /readyz, polled on a worker every
 * 250 ms until then, with STATUS= naming what still fails), RELOADING=1 and
 * READY=1 around a SIGHUP reload, and STOPPING=1 when it drains. Without
 * libsystemd these are no-ops; the poll still logs when the node is ready.
 *
 * Descriptors: at start the soft RLIMIT_NOFILE is raised to the hard
 * limit. [node] max_connections = 0 caps HTTP connections at
 * limit - (256 + limit / 4), at least 16: the reserve keeps descriptors
 * for the engine (WAL, one per SSTable, manifest, directory syncs), the
 * catalog, RPC peers, gossip and the log, so idle clients cannot make the
 * engine fail to open its next file. The cap and the output budget
 * ([node] max_conn_output, max_output_total) are shared by every loop.
 * Buffers of 256 KiB and more (values, answers) are mapped and unmapped
 * by malloc on their own (a fixed M_MMAP_THRESHOLD): glibc's sliding
 * threshold would otherwise serve them from the arenas after the first
 * free, and the memory of a burst of large answers would stay in the
 * process long after the answers left (measured: 200 MB kept after a
 * slow-reader burst, 30 MB with the fixed threshold).
 *
 * Listen addresses are exclusive: the HTTP socket is bound without
 * SO_REUSEPORT and shared by the loops, RPC and gossip bind plainly, so a
 * node whose address is taken refuses to start (exit 1).
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <sys/resource.h>
#include <unistd.h>
#include <uv.h>
#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "api/api.h"
#include "api/auth.h"
#include "api/health.h"
#include "cluster/cluster.h"
#include "cluster/leaver.h"
#include "base/config.h"
#include "base/log.h"
#include "base/metrics.h"
#include "http/tls.h"
#include "rpc/rpc_tls.h"
#include "util/buf.h"
#include "dynkvd_tools.h"
#include "node/node.h"

typedef struct loop_ctx {
    uv_loop_t loop;
    uv_async_t stop_async;
    dk_mailbox mailbox; /* answers from the cluster loop */
    dk_mail mail;
    int phase; /* 0 serving, 1 HTTP stopping, 2 closing */
    uv_thread_t thread;
    dk_api api;
    int index;
    int started;
} loop_ctx;

static loop_ctx *loops;
static int n_loops;
static int n_http_stopped; /* cluster loop only */
static uv_signal_t sig_term, sig_int, sig_hup;
static uv_timer_t drain_timer;
static int stopping;
static int signals_on; /* the handles above are initialised */
static dk_cluster cluster;
static dk_http_limits http_limits; /* shared by every loop's server */
static int cluster_started;
static dk_config cfg;
static int main_argc;
static char **main_argv;

static dk_node node;
static dk_auth *auth;             /* [security] tokens_file; NULL: none */
static dk_tls_server *tls_server; /* NULL: plain HTTP */

/* Readiness polling for systemd (loop 0 owns these). */
static uv_timer_t ready_timer;
static uv_work_t ready_work;
static dk_readiness ready_result;
static int ready_busy, ready_sent, cluster_stop_waits;
static char ready_status[512];

/* Tell the service manager something (sd_notify), or nothing without
 * libsystemd or outside systemd. Any thread. */
static void svc_notify(const char *fmt, ...) DK_PRINTF(1, 2);
static void svc_notify(const char *fmt, ...)
{
#ifdef HAVE_LIBSYSTEMD
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sd_notify(0, msg);
#else
    (void)fmt;
#endif
}

/* SIGHUP's reload, one at a time (loop 0 owns these). */
typedef struct reload_job {
    uv_work_t work;
    int busy, again;
    int cfg_rc, log_rc, level;
    int auth_rc;
    size_t auth_clients;
    char auth_err[1024];
    int tls_rc;                 /* 0 reloaded, 1 not asked, else failed */
    struct dk_rpc_tls *rpc_tls; /* the cluster's RPC TLS, or NULL (read on loop 0) */
    int rpc_tls_rc;             /* as tls_rc */
    char rpc_tls_err[1024];
    char path[DK_CONFIG_PATH_MAX + 1]; /* the log file in use */
    char err[1024];
    char tls_err[1024];
} reload_job;
static reload_job reload;

/*
 * Stopping, in order: every loop's HTTP server stops accepting and finishes
 * its in-flight requests (which may still need the coordinator), then the
 * cluster stops on loop 0, then every loop closes its handles and ends.
 */
static void stop_phase(int phase)
{
    for (int i = 0; i < n_loops; i++) {
        if (!loops[i].started)
            continue;
        __atomic_store_n(&loops[i].phase, phase, __ATOMIC_RELEASE);
        uv_async_send(&loops[i].stop_async);
    }
}

/* Loop 0. */
static void on_cluster_stopped(void *arg)
{
    stop_phase(2);
}

/* Loop 0: the requests in flight did not finish within drain_timeout. */
static void on_drain_timeout(uv_timer_t *t)
{
    dk_log(DK_LOG_ERROR,
           "drain: requests still in flight after %lld ms ([node] drain_timeout); "
           "exiting without them (acknowledged writes are in the WAL)",
           (long long)cfg.node.drain_timeout);
    dk_log_close();
    _exit(1);
}

/* Loop 0: one more loop's HTTP server is done. */
static void on_http_stopped_main(void *arg)
{
    int started = 0;
    for (int i = 0; i < n_loops; i++)
        started += loops[i].started;
    if (++n_http_stopped < started)
        return;
    if (ready_busy) {
        cluster_stop_waits = 1; /* a readiness check still reads the cluster */
        return;
    }
    if (cluster_started)
        dk_cluster_stop(&cluster, on_cluster_stopped, NULL);
    else
        stop_phase(2);
}

/* Worker: the checks of GET /readyz. */
static void ready_eval(uv_work_t *w)
{
    dk_health_evaluate(&node, &cluster, &ready_result);
}

/* Loop 0. */
static void ready_done(uv_work_t *w, int status)
{
    ready_busy = 0;
    if (cluster_stop_waits) {
        cluster_stop_waits = 0;
        n_http_stopped--;
        on_http_stopped_main(NULL);
        return;
    }
    if (status == UV_ECANCELED || stopping)
        return;
    if (ready_result.ok) {
        ready_sent = 1;
        uv_timer_stop(&ready_timer);
        svc_notify("READY=1\nSTATUS=ready: node %s takes its share", cfg.node.id);
        dk_log(DK_LOG_INFO, "ready: every readiness check passes");
        return;
    }
    char msg[sizeof(ready_status)] = "";
    size_t used = 0;
    for (size_t i = 0; i < ready_result.n && used < sizeof(msg); i++) {
        const dk_ready_check *c = &ready_result.checks[i];
        if (c->ok)
            continue;
        int n = snprintf(msg + used, sizeof(msg) - used, "%s%s: %s", used ? "; " : "", c->name, c->message);
        used += n > 0 ? (size_t)n : 0;
    }
    if (strcmp(msg, ready_status) != 0) {
        snprintf(ready_status, sizeof(ready_status), "%s", msg);
        svc_notify("STATUS=not ready: %s", msg);
        dk_log(DK_LOG_INFO, "not ready yet: %s", msg);
    }
}

/* Loop 0, every 250 ms until ready. */
static void ready_tick(uv_timer_t *t)
{
    if (ready_busy || stopping)
        return;
    if (uv_queue_work(&loops[0].loop, &ready_work, ready_eval, ready_done) == 0)
        ready_busy = 1;
}

/* Loop thread of ctx: the server has flushed and closed every connection. */
static void on_server_stopped(void *arg)
{
    loop_ctx *ctx = arg;
    ctx->api.http = NULL;
    if (ctx == &loops[0] || dk_mailbox_post(&loops[0].mailbox, &ctx->mail, on_http_stopped_main, NULL) != 0)
        on_http_stopped_main(NULL);
}

/* Loop thread of ctx. */
static void on_stop_async(uv_async_t *a)
{
    loop_ctx *ctx = a->data;
    int phase = __atomic_load_n(&ctx->phase, __ATOMIC_ACQUIRE);
    if (phase == 1) {
        if (ctx->api.http)
            dk_http_server_stop(ctx->api.http, on_server_stopped, ctx);
    } else if (phase == 2) {
        uv_close((uv_handle_t *)&ctx->stop_async, NULL);
        dk_mailbox_close(&ctx->mailbox);
        if (ctx == &loops[0] && signals_on) {
            uv_close((uv_handle_t *)&sig_hup, NULL);
            uv_close((uv_handle_t *)&drain_timer, NULL);
            uv_close((uv_handle_t *)&ready_timer, NULL);
        }
    }
}

/* Loop 0: drain as for any signal (stop_phase(1)). */
static void drain_now(int signum)
{
    dk_log(DK_LOG_INFO,
           "signal %d: draining (no new connections; finishing the requests in flight, "
           "at most %lld ms)",
           signum, (long long)cfg.node.drain_timeout);
    dk_health_set_draining(1);
    svc_notify("STOPPING=1\nSTATUS=draining after signal %d", signum);
    uv_timer_stop(&ready_timer);
    if (cfg.node.drain_timeout > 0)
        uv_timer_start(&drain_timer, on_drain_timeout, (uint64_t)cfg.node.drain_timeout, 0);
    stop_phase(1);
}

/* A node that is left and not handed off yet (cluster/leaver.h): the
 * signal waits for the hand-off, every 100 ms, at most
 * DK_LEAVER_STOP_WAIT_MS (the test hook DK_TEST_LEAVER_STOP_WAIT_MS
 * shortens it); then the hints still held are logged by count. */
static uv_timer_t handoff_timer;
static uint64_t handoff_since;
static int handoff_signum;
static unsigned handoff_wait_ms = DK_LEAVER_STOP_WAIT_MS;

/* Loop 0. */
static void on_handoff_tick(uv_timer_t *t)
{
    uint64_t waited = uv_now(t->loop) - handoff_since;
    if (!dk_cluster_handed_off(&cluster) && waited < handoff_wait_ms)
        return;
    uv_timer_stop(t);
    uv_close((uv_handle_t *)t, NULL);
    if (dk_cluster_handed_off(&cluster)) {
        dk_log(DK_LOG_INFO, "decommission: handed off after %llu ms: stopping", (unsigned long long)waited);
    } else {
        char desc[512];
        uint64_t n = dk_cluster_hints_describe(&cluster, desc, sizeof(desc));
        dk_log(DK_LOG_WARN,
               "decommission: not handed off after %u ms: stopping with %llu undelivered hint(s)%s%s%s "
               "(kept in the hint store: start this node again to deliver them)",
               handoff_wait_ms, (unsigned long long)n, desc[0] ? " (" : "", desc, desc[0] ? ")" : "");
    }
    drain_now(handoff_signum);
}

/* Main loop thread. */
static void on_signal(uv_signal_t *s, int signum)
{
    if (stopping++) {
        dk_log(DK_LOG_WARN, "second signal %d: exiting without waiting", signum);
        exit(1);
    }
    uv_close((uv_handle_t *)&sig_term, NULL);
    uv_close((uv_handle_t *)&sig_int, NULL);
    if (cluster_started && dk_cluster_left(&cluster) && !dk_cluster_handed_off(&cluster)) {
        const char *t = getenv("DK_TEST_LEAVER_STOP_WAIT_MS");
        if (t && atoi(t) > 0) {
            handoff_wait_ms = (unsigned)atoi(t);
            dk_log(DK_LOG_WARN, "test hook DK_TEST_LEAVER_STOP_WAIT_MS: waiting at most %u ms",
                   handoff_wait_ms);
        }
        dk_log(DK_LOG_INFO,
               "signal %d: this node is left but has not handed off yet (%llu hint(s) to deliver): "
               "waiting for it, at most %u ms, before draining",
               signum, (unsigned long long)dk_cluster_hints_left(&cluster), handoff_wait_ms);
        handoff_signum = signum;
        handoff_since = uv_now(s->loop);
        uv_timer_init(s->loop, &handoff_timer);
        uv_timer_start(&handoff_timer, on_handoff_tick, 100, 100);
        return;
    }
    drain_now(signum);
}

/* Worker: re-read the configuration and reopen the log. */
static void reload_work(uv_work_t *w)
{
    reload_job *r = w->data;
    dk_config c;
    int exit_now = 0;
    r->err[0] = '\0';
    r->cfg_rc = dk_config_from_args(&c, main_argc, main_argv, &exit_now, r->err, sizeof(r->err));
    if (r->cfg_rc == 0) {
        snprintf(r->path, sizeof(r->path), "%s", c.node.log_file);
        r->level = c.node.log_level;
    }
    /* The certificate: from the new configuration's paths when it loads
     * and still names both files, else from the paths the node started
     * with (HTTPS cannot be switched on or off without a restart). */
    r->tls_rc = 1;
    if (tls_server) {
        const dk_config *src =
            r->cfg_rc == 0 && c.security.tls_cert_file[0] && c.security.tls_key_file[0] ? &c : &cfg;
        r->tls_rc = dk_tls_server_reload(tls_server, src->security.tls_cert_file, src->security.tls_key_file,
                                         r->tls_err, sizeof(r->tls_err));
        if (r->tls_rc == 0)
            snprintf(r->tls_err, sizeof(r->tls_err), "%.900s", src->security.tls_cert_file);
    }
    /* RPC's mutual TLS likewise ([security] tls_ca_file as well). */
    r->rpc_tls_rc = 1;
    if (r->rpc_tls) {
        const dk_config *src = r->cfg_rc == 0 && c.security.tls_cert_file[0] && c.security.tls_key_file[0] &&
                                       c.security.tls_ca_file[0]
                                   ? &c
                                   : &cfg;
        r->rpc_tls_rc = dk_rpc_tls_reload(r->rpc_tls, src->security.tls_cert_file, src->security.tls_key_file,
                                          src->security.tls_ca_file, r->rpc_tls_err, sizeof(r->rpc_tls_err));
        if (r->rpc_tls_rc == 0)
            snprintf(r->rpc_tls_err, sizeof(r->rpc_tls_err), "%.500s and CA %.500s",
                     src->security.tls_cert_file, src->security.tls_ca_file);
    }
    dk_config_free(&c);
    r->log_rc = dk_log_open(r->path, r->level);
    if (auth)
        r->auth_rc = dk_auth_reload(auth, &r->auth_clients, r->auth_err, sizeof(r->auth_err));
}

static void on_hup(uv_signal_t *s, int signum);

/* Loop 0. */
static void reload_done(uv_work_t *w, int status)
{
    reload_job *r = w->data;
    static const char *const levels[] = {"error", "warn", "info", "debug"};
    r->busy = 0;
    if (status == UV_ECANCELED)
        return;
    if (r->cfg_rc)
        dk_log(DK_LOG_ERROR, "SIGHUP: the configuration does not load, keeping the log settings: %s", r->err);
    if (r->log_rc)
        dk_log(DK_LOG_ERROR, "SIGHUP: cannot open log file %s: %s; still logging where before", r->path,
               dk_strerror(r->log_rc));
    else
        dk_log(DK_LOG_INFO, "SIGHUP: log reopened (%s, level %s); other configuration changes need a restart",
               r->path[0] ? r->path : "stderr", levels[r->level & 3]);
    if (auth && r->auth_rc)
        dk_log(DK_LOG_ERROR, "SIGHUP: the tokens file does not load, keeping the clients of before: %s",
               r->auth_err);
    else if (auth)
        dk_log(DK_LOG_INFO, "SIGHUP: tokens file %s reloaded: %zu client%s", cfg.security.tokens_file,
               r->auth_clients, r->auth_clients == 1 ? "" : "s");
    if (r->tls_rc == 0)
        dk_log(DK_LOG_INFO, "SIGHUP: TLS certificate reloaded from %s; new connections use it", r->tls_err);
    else if (r->tls_rc != 1)
        dk_log(DK_LOG_ERROR, "SIGHUP: TLS certificate not reloaded, still serving the previous one: %s",
               r->tls_err);
    if (r->rpc_tls_rc == 0)
        dk_log(DK_LOG_INFO, "SIGHUP: RPC TLS certificate reloaded from %s; new RPC connections use them",
               r->rpc_tls_err);
    else if (r->rpc_tls_rc != 1)
        dk_log(DK_LOG_ERROR, "SIGHUP: RPC TLS certificate not reloaded, still using the previous one: %s",
               r->rpc_tls_err);
    if (r->again) {
        r->again = 0;
        on_hup(&sig_hup, SIGHUP);
    } else if (ready_sent) {
        svc_notify("READY=1\nSTATUS=ready: node %s takes its share (log reopened)", cfg.node.id);
    }
}

/* Main loop thread. */
static void on_hup(uv_signal_t *s, int signum)
{
    if (stopping)
        return;
    if (reload.busy) {
        reload.again = 1;
        return;
    }
    reload.work.data = &reload;
    reload.rpc_tls = cluster_started && cluster.rpc ? dk_rpc_tls_of(cluster.rpc) : NULL;
    if (uv_queue_work(&loops[0].loop, &reload.work, reload_work, reload_done) == 0) {
        reload.busy = 1;
        if (ready_sent)
            svc_notify("RELOADING=1\nSTATUS=reopening the log");
    }
}

static int loop_start(loop_ctx *ctx, dk_node *nd, const dk_config *conf, const char *listen,
                      const dk_http_server *share, char *err, size_t errlen)
{
    int rc = uv_loop_init(&ctx->loop);
    if (rc) {
        snprintf(err, errlen, "uv_loop_init: %s", uv_strerror(rc));
        return rc;
    }
    ctx->api = (dk_api){.loop = &ctx->loop,
                        .node = nd,
                        .cfg = conf,
                        .cluster = &cluster,
                        .cluster_loop = &loops[0].loop,
                        .loop_index = (unsigned)ctx->index,
                        .cluster_mb = &loops[0].mailbox,
                        .own_mb = &ctx->mailbox,
                        .auth = auth};
    dk_http_conf hc = {
        .listen = listen,
        .max_body = DK_VALUE_MAX,
        .max_header = 16 * 1024,
        .max_pipeline = 32,
        .idle_timeout_ms = 60000,
        .request_timeout_ms = 30000,
        .share = share,
        .limits = &http_limits,
        .tls = tls_server,
        .head_check = dk_api_head_check,
    };
    rc = dk_http_server_start(&ctx->loop, &hc, dk_api_handle, &ctx->api, &ctx->api.http, err, errlen);
    if (rc)
        return rc;
    uv_async_init(&ctx->loop, &ctx->stop_async, on_stop_async);
    ctx->stop_async.data = ctx;
    dk_mailbox_init(&ctx->mailbox, &ctx->loop);
    ctx->started = 1;
    return 0;
}

/* Raise the soft descriptor limit to the hard one and size the HTTP
 * limits (see the comment at the top). Main thread, before the loops. */
static void http_limits_setup(const dk_config *conf)
{
    struct rlimit rl;
    uint64_t nofile = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        if (rl.rlim_cur < rl.rlim_max) {
            struct rlimit want = {rl.rlim_max, rl.rlim_max};
            if (setrlimit(RLIMIT_NOFILE, &want) == 0)
                rl.rlim_cur = rl.rlim_max;
            else
                dk_log(DK_LOG_WARN, "cannot raise the descriptor limit from %llu to %llu: %s",
                       (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max, strerror(errno));
        }
        nofile = rl.rlim_cur == RLIM_INFINITY ? UINT32_MAX : (uint64_t)rl.rlim_cur;
    }
    uint64_t max = (uint64_t)conf->node.max_connections;
    if (!max) {
        uint64_t reserve = 256 + nofile / 4;
        max = nofile > reserve + 16 ? nofile - reserve : 16;
    } else if (max + 64 > nofile) {
        dk_log(DK_LOG_WARN,
               "[node] max_connections = %llu leaves fewer than 64 of the %llu descriptors "
               "for the engine, RPC and gossip",
               (unsigned long long)max, (unsigned long long)nofile);
    }
    http_limits.max_connections = max > UINT32_MAX ? UINT32_MAX : (uint32_t)max;
    http_limits.max_conn_output = (size_t)conf->node.max_conn_output;
    http_limits.max_output_total = (size_t)conf->node.max_output_total;
    dk_metrics_add("http_connections_refused_total", 0);
    dk_metrics_add("http_accept_errors_total", 0);
    dk_metrics_add("http_slow_readers_closed_total", 0);
    dk_metrics_set_gauge("http_connections_open", 0);
    dk_metrics_set_gauge("http_output_queued_bytes", 0);
    dk_log(DK_LOG_INFO,
           "descriptor limit %llu: at most %u HTTP connections, %llu bytes of unwritten answers "
           "per connection, %llu per node",
           (unsigned long long)nofile, http_limits.max_connections,
           (unsigned long long)http_limits.max_conn_output, (unsigned long long)http_limits.max_output_total);
}

/* A loop thread keeps value-sized buffers for reuse (util/buf.h) while
 * it runs. */
static void loop_thread(void *arg)
{
    loop_ctx *ctx = arg;
    dk_buf_cache_start();
    uv_run(&ctx->loop, UV_RUN_DEFAULT);
    dk_buf_cache_stop();
}

static void loop_close(loop_ctx *ctx)
{
    uv_run(&ctx->loop, UV_RUN_DEFAULT); /* close callbacks still pending */
    int rc = uv_loop_close(&ctx->loop);
    dk_api_pool_free(&ctx->api);
    if (rc)
        dk_log(DK_LOG_WARN, "loop %d closed with handles still open: %s", ctx->index, uv_strerror(rc));
}

int main(int argc, char **argv)
{
    char err[1024] = "";
    int exit_now = 0;
    if (argc >= 2 && strcmp(argv[1], "token") == 0)
        return dynkvd_token(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "keygen") == 0)
        return dynkvd_keygen(argc, argv);
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--check-config") == 0 || strncmp(argv[i], "--check-config=", 15) == 0)
            return dynkvd_check_config(argc, argv);
    main_argc = argc;
    main_argv = argv;
    /* SIGTERM, SIGINT and SIGHUP wait until their handlers are installed:
     * the HTTP port accepts connections before the loops run, and a stop
     * sent in between would otherwise kill the node without a drain.
     * Every thread started from here on inherits the mask; the main
     * thread takes the signals once loop 0 handles them. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    int rc = dk_config_from_args(&cfg, argc, argv, &exit_now, err, sizeof(err));
    if (rc || exit_now) {
        if (rc)
            fprintf(stderr, "dynkvd: %s\n", err);
        dk_config_free(&cfg);
        return rc ? 2 : 0;
    }
    if (dk_log_open(cfg.node.log_file, cfg.node.log_level) != 0) {
        fprintf(stderr, "dynkvd: cannot open log file %s\n", cfg.node.log_file);
        dk_config_free(&cfg);
        return 2;
    }
    dk_log_set_json(cfg.log.format == 1);
    (void)dk_log_apply_levels(cfg.log.levels, err, sizeof(err), 0); /* checked with the configuration */
    if (cfg.security.tokens_file[0] && dk_auth_open(&auth, cfg.security.tokens_file, err, sizeof(err)) != 0) {
        dk_log(DK_LOG_ERROR, "cannot start: %s", err);
        fprintf(stderr, "dynkvd: %s\n", err);
        dk_log_close();
        dk_config_free(&cfg);
        return 2;
    }
    if (cfg.security.tls_cert_file[0] &&
        dk_tls_server_new(cfg.security.tls_cert_file, cfg.security.tls_key_file, &tls_server, err,
                          sizeof(err)) != 0) {
        dk_log(DK_LOG_ERROR, "cannot start: %s", err);
        fprintf(stderr, "dynkvd: %s\n", err);
        dk_auth_free(auth);
        dk_log_close();
        dk_config_free(&cfg);
        return 2;
    }
    if (cfg.security.tls_ca_file[0]) {
        /* The RPC's own contexts are made by the cluster; a file that does
         * not load stops the node here, with the same status as HTTPS's. */
        dk_rpc_tls *t = NULL;
        int trc = dk_rpc_tls_new(cfg.security.tls_cert_file, cfg.security.tls_key_file,
                                 cfg.security.tls_ca_file, &t, err, sizeof(err));
        dk_rpc_tls_free(t);
        if (trc) {
            dk_log(DK_LOG_ERROR, "cannot start: %s", err);
            fprintf(stderr, "dynkvd: %s\n", err);
            dk_tls_server_free(tls_server);
            dk_auth_free(auth);
            dk_log_close();
            dk_config_free(&cfg);
            return 2;
        }
    }
    if (!auth && cfg.security.metrics_need_token)
        dk_log(DK_LOG_WARN,
               "[security] metrics_need_token has no effect without tokens_file: /metrics is open");
    if (auth)
        dk_log(DK_LOG_INFO, "clients need a bearer token: %zu client%s in %s%s", dk_auth_count(auth),
               dk_auth_count(auth) == 1 ? "" : "s", cfg.security.tokens_file,
               cfg.security.metrics_need_token ? " (/metrics too)" : "");
    snprintf(reload.path, sizeof(reload.path), "%s", cfg.node.log_file);
    reload.level = cfg.node.log_level;
    signal(SIGPIPE, SIG_IGN);
    char pool[16];
    snprintf(pool, sizeof(pool), "%d", cfg.node.worker_threads);
    setenv("UV_THREADPOOL_SIZE", pool, 1);

    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    http_limits_setup(&cfg);
    rc = dk_node_open(&node, &cfg, err, sizeof(err));
    if (rc) {
        dk_log(DK_LOG_ERROR, "cannot start: %s", err);
        fprintf(stderr, "dynkvd: %s\n", err);
        dk_auth_free(auth);
        dk_tls_server_free(tls_server);
        dk_log_close();
        dk_config_free(&cfg);
        return rc == DK_ECONFIG ? 2 : 1; /* a plugin option is a configuration error too */
    }

    /* [node] loop_threads = 0: one loop per online core, at most 64. */
    n_loops = cfg.node.loop_threads;
    if (n_loops == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        n_loops = cores < 1 ? 1 : cores > 64 ? 64 : (int)cores;
    }
    loops = calloc((size_t)n_loops, sizeof(*loops));
    int status = 0;
    /* Loop 0 binds; the others accept on its socket. */
    char listen[sizeof(cfg.node.http_listen) + 8];
    snprintf(listen, sizeof(listen), "%s", cfg.node.http_listen);
    for (int i = 0; i < n_loops && loops; i++) {
        loops[i].index = i;
        if (loop_start(&loops[i], &node, &cfg, listen, i ? loops[0].api.http : NULL, err, sizeof(err)) != 0) {
            dk_log(DK_LOG_ERROR, "cannot serve HTTP on %s: %s", cfg.node.http_listen, err);
            fprintf(stderr, "dynkvd: cannot serve HTTP on %s: %s\n", cfg.node.http_listen, err);
            status = 1;
            break;
        }
    }
    if (!loops)
        status = 1;
    if (status == 0) {
        char *colon = strrchr(listen, ':');
        snprintf(colon + 1, sizeof(listen) - (size_t)(colon + 1 - listen), "%d",
                 dk_http_server_port(loops[0].api.http));
        /* Every loop coordinates what arrives on it (cluster.h): the
         * loops' own coordinators start now, before their threads run. */
        uv_loop_t **lp = calloc((size_t)n_loops, sizeof(*lp));
        dk_mailbox **mb = calloc((size_t)n_loops, sizeof(*mb));
        for (int i = 0; lp && mb && i < n_loops; i++) {
            lp[i] = &loops[i].loop;
            mb[i] = &loops[i].mailbox;
        }
        dk_cluster_loops cl = {.n = lp && mb ? (size_t)n_loops : 1, .loop = lp, .mb = mb};
        int crc = dk_cluster_start(&cluster, &loops[0].loop, &node, listen, lp && mb ? &cl : NULL, err,
                                   sizeof(err));
        free(lp);
        free(mb);
        if (crc != 0) {
            dk_log(DK_LOG_ERROR, "cannot join the cluster: %s", err);
            fprintf(stderr, "dynkvd: cannot start the cluster services: %s\n", err);
            status = 1;
        }
        cluster_started = 1;
    }
    if (loops) {
        if (status == 0) {
            uv_signal_init(&loops[0].loop, &sig_term);
            uv_signal_init(&loops[0].loop, &sig_int);
            uv_signal_init(&loops[0].loop, &sig_hup);
            uv_timer_init(&loops[0].loop, &drain_timer);
            uv_signal_start(&sig_term, on_signal, SIGTERM);
            uv_signal_start(&sig_int, on_signal, SIGINT);
            uv_signal_start(&sig_hup, on_hup, SIGHUP);
            uv_timer_init(&loops[0].loop, &ready_timer);
            uv_timer_start(&ready_timer, ready_tick, 0, 250);
            signals_on = 1;
            dk_log(DK_LOG_INFO,
                   "node %s serving %s://%s (engine %s, compaction %s, resolver %s, %d loop thread%s, %d "
                   "workers)",
                   cfg.node.id, tls_server ? "https" : "http", listen, cfg.storage.engine,
                   cfg.compaction.policy, cfg.conflict.resolver, n_loops, n_loops == 1 ? "" : "s",
                   cfg.node.worker_threads);
        }
        /* The other loops start after the "serving" line (a loop that
         * answered /health before it was written let a client that waited
         * for readiness find a log without it) and before the stop signals
         * are unblocked, so that they inherit the mask. */
        for (int i = 1; i < n_loops; i++)
            if (loops[i].started)
                uv_thread_create(&loops[i].thread, loop_thread, &loops[i]);
        if (status == 0) {
            pthread_sigmask(SIG_UNBLOCK, &stop_signals, NULL);
        } else {
            /* Start-up failed part way: stop what started, then drain
             * (a stop signal now ends the node at once). */
            stopping = 1;
            pthread_sigmask(SIG_UNBLOCK, &stop_signals, NULL);
            stop_phase(1);
        }
        dk_buf_cache_start();
        uv_run(&loops[0].loop, UV_RUN_DEFAULT);
        dk_buf_cache_stop();
        for (int i = 1; i < n_loops; i++)
            if (loops[i].started)
                uv_thread_join(&loops[i].thread);
    }
    for (int i = 0; i < n_loops && loops; i++)
        if (loops[i].started || i == 0)
            loop_close(&loops[i]);
    free(loops);
    /* Flush the memtables so that the next start has no WAL to replay. */
    if (status == 0) {
        dk_engine_ref data = dk_node_engine(&node), hints = dk_node_hints(&node);
        int frc = dk_engine_flush(&data);
        if (!frc && hints.obj)
            frc = dk_engine_flush(&hints);
        if (frc == 0)
            dk_log(DK_LOG_INFO, "engine flushed");
        else if (frc != DK_EUNSUPPORTED) /* an engine without flush has nothing to flush */
            dk_log(DK_LOG_WARN, "flush at stop failed: %s (the WAL still holds every acknowledged write)",
                   dk_strerror(frc));
    }
    dk_node_close(&node);
    dk_auth_free(auth);
    dk_tls_server_free(tls_server);
    dk_log(DK_LOG_INFO, "stopped");
    dk_log_close();
    dk_config_free(&cfg);
    /* End libuv's pool threads now rather than in its destructor, after
     * exit's handlers: their thread-local state (OpenSSL's error queue of
     * a SIGHUP reload, a dlclosed plugin's _Thread_local data) is then
     * gone before AddressSanitizer's leak check walks the live threads. */
    uv_library_shutdown();
    return status;
}
