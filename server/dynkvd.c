/*
 * dynkvd.c - the dynkv node daemon.
 *
 * Start-up runs on the main thread: configuration (exit 2 on a bad one,
 * including a plugin's own options, which dk_node_open checks),
 * the log, the node's catalog, plugins and store (dk_node_open), then one
 * libuv loop per configured loop thread, each with its own HTTP server on
 * the shared listen address (SO_REUSEPORT spreads connections). Engine work
 * runs on libuv's worker pool, sized from node.worker_threads.
 *
 * SIGTERM/SIGINT stop every server gracefully (in-flight requests finish),
 * the loops drain, then the node closes the engine and exits 0.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "api/api.h"
#include "cluster/cluster.h"
#include "base/config.h"
#include "base/log.h"
#include "node/node.h"

typedef struct loop_ctx {
    uv_loop_t loop;
    uv_async_t stop_async;
    dk_mailbox mailbox;                 /* answers from the cluster loop */
    dk_mail mail;
    int phase;                          /* 0 serving, 1 HTTP stopping, 2 closing */
    uv_thread_t thread;
    dk_api api;
    int index;
    int started;
} loop_ctx;

static loop_ctx *loops;
static int n_loops;
static int n_http_stopped;              /* cluster loop only */
static uv_signal_t sig_term, sig_int;
static int stopping;
static dk_cluster cluster;
static int cluster_started;

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

/* Loop 0: one more loop's HTTP server is done. */
static void on_http_stopped_main(void *arg)
{
    int started = 0;
    for (int i = 0; i < n_loops; i++)
        started += loops[i].started;
    if (++n_http_stopped < started)
        return;
    if (cluster_started)
        dk_cluster_stop(&cluster, on_cluster_stopped, NULL);
    else
        stop_phase(2);
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
    }
}

/* Main loop thread. */
static void on_signal(uv_signal_t *s, int signum)
{
    if (stopping++) {
        dk_log(DK_LOG_WARN, "second signal %d: exiting without waiting", signum);
        exit(1);
    }
    dk_log(DK_LOG_INFO, "signal %d: stopping (finishing in-flight requests)", signum);
    uv_close((uv_handle_t *)&sig_term, NULL);
    uv_close((uv_handle_t *)&sig_int, NULL);
    stop_phase(1);
}

static int loop_start(loop_ctx *ctx, dk_node *node, const dk_config *cfg, const char *listen,
                      char *err, size_t errlen)
{
    int rc = uv_loop_init(&ctx->loop);
    if (rc) {
        snprintf(err, errlen, "uv_loop_init: %s", uv_strerror(rc));
        return rc;
    }
    ctx->api = (dk_api){.loop = &ctx->loop, .node = node, .cfg = cfg, .cluster = &cluster,
                        .cluster_loop = &loops[0].loop, .cluster_mb = &loops[0].mailbox,
                        .own_mb = &ctx->mailbox};
    dk_http_conf hc = {
        .listen = listen,
        .max_body = DK_VALUE_MAX,
        .max_header = 16 * 1024,
        .max_pipeline = 32,
        .idle_timeout_ms = 60000,
        .request_timeout_ms = 30000,
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

static void loop_thread(void *arg)
{
    loop_ctx *ctx = arg;
    uv_run(&ctx->loop, UV_RUN_DEFAULT);
}

static void loop_close(loop_ctx *ctx)
{
    uv_run(&ctx->loop, UV_RUN_DEFAULT);     /* close callbacks still pending */
    int rc = uv_loop_close(&ctx->loop);
    if (rc)
        dk_log(DK_LOG_WARN, "loop %d closed with handles still open: %s", ctx->index, uv_strerror(rc));
}

int main(int argc, char **argv)
{
    dk_config cfg;
    char err[1024] = "";
    int exit_now = 0;
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
    signal(SIGPIPE, SIG_IGN);
    char pool[16];
    snprintf(pool, sizeof(pool), "%d", cfg.node.worker_threads);
    setenv("UV_THREADPOOL_SIZE", pool, 1);

    dk_node node;
    rc = dk_node_open(&node, &cfg, err, sizeof(err));
    if (rc) {
        dk_log(DK_LOG_ERROR, "cannot start: %s", err);
        fprintf(stderr, "dynkvd: %s\n", err);
        dk_log_close();
        dk_config_free(&cfg);
        return rc == DK_ECONFIG ? 2 : 1;   /* a plugin option is a configuration error too */
    }

    n_loops = cfg.node.loop_threads;
    loops = calloc((size_t)n_loops, sizeof(*loops));
    int status = 0;
    /* Loop 0 binds first; with port 0 the others must share the port the
     * kernel chose, so they get the actual address. */
    char listen[sizeof(cfg.node.http_listen) + 8];
    snprintf(listen, sizeof(listen), "%s", cfg.node.http_listen);
    for (int i = 0; i < n_loops && loops; i++) {
        loops[i].index = i;
        if (i == 1) {
            char *colon = strrchr(listen, ':');
            snprintf(colon + 1, sizeof(listen) - (size_t)(colon + 1 - listen), "%d",
                     dk_http_server_port(loops[0].api.http));
        }
        if (loop_start(&loops[i], &node, &cfg, listen, err, sizeof(err)) != 0) {
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
        if (dk_cluster_start(&cluster, &loops[0].loop, &node, listen, err, sizeof(err)) != 0) {
            dk_log(DK_LOG_ERROR, "cannot join the cluster: %s", err);
            fprintf(stderr, "dynkvd: cannot start the cluster services: %s\n", err);
            status = 1;
        }
        cluster_started = 1;
    }
    if (loops) {
        for (int i = 1; i < n_loops; i++)
            if (loops[i].started)
                uv_thread_create(&loops[i].thread, loop_thread, &loops[i]);
        if (status == 0) {
            uv_signal_init(&loops[0].loop, &sig_term);
            uv_signal_init(&loops[0].loop, &sig_int);
            uv_signal_start(&sig_term, on_signal, SIGTERM);
            uv_signal_start(&sig_int, on_signal, SIGINT);
            dk_log(DK_LOG_INFO, "node %s serving http://%s (engine %s, compaction %s, resolver %s, %d loop thread%s, %d workers)",
                   cfg.node.id, listen, cfg.storage.engine, cfg.compaction.policy,
                   cfg.conflict.resolver, n_loops, n_loops == 1 ? "" : "s", cfg.node.worker_threads);
        } else {
            /* Start-up failed part way: stop what started, then drain. */
            stopping = 1;
            stop_phase(1);
        }
        uv_run(&loops[0].loop, UV_RUN_DEFAULT);
        for (int i = 1; i < n_loops; i++)
            if (loops[i].started)
                uv_thread_join(&loops[i].thread);
    }
    for (int i = 0; i < n_loops && loops; i++)
        if (loops[i].started || i == 0)
            loop_close(&loops[i]);
    free(loops);
    dk_node_close(&node);
    dk_log(DK_LOG_INFO, "stopped");
    dk_log_close();
    dk_config_free(&cfg);
    return status;
}
