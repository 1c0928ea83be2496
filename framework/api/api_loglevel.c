/*
 * api_loglevel.c - GET and POST /admin/loglevel: the node's log level and
 * the subsystems with levels of their own, changed at run time (until the
 * next restart; SIGHUP sets the node's level from the file again).
 *
 *   GET  /admin/loglevel                        {"level","format","subsystems":{name:level}}
 *   POST /admin/loglevel?level=debug            the node's level
 *   POST /admin/loglevel?subsystem=rpc&level=debug
 *   POST /admin/loglevel?subsystem=rpc&level=default   back to the node's level
 *
 * The logger is process-wide and lock-free to read, so this answers on
 * the loop without a worker.
 */
#include <stdio.h>
#include <string.h>
#include <http_parser.h>

#include "api/api_int.h"
#include "base/log.h"
#include "http/url.h"
#include "util/errors.h"

static const char *const ll_names[] = {"error", "warn", "info", "debug"};

static void ll_add(void *arg, const char *name, int level)
{
    json_object_set_new(arg, name, json_string(ll_names[level & 3]));
}

static void ll_reply(dk_api_req *q, int status, const char *code, const char *msg)
{
    if (code)
        dk__api_error(q, status, code, msg);
    dk__api_send(q);
}

int dk__api_loglevel(dk_api *api, dk_http_exchange *x, const dk_http_request *r)
{
    static const char path[] = "/admin/loglevel";
    if (r->path_len != sizeof(path) - 1 || memcmp(r->path, path, r->path_len) != 0)
        return -1;
    dk_api_req *j = dk__api_req_new(api, x, sizeof(*j), DK_OP_OTHER);
    if (!j)
        return 0;
    if (r->method == HTTP_POST) {
        char level[16] = "", sub[DK_LOG_SUBSYSTEM_MAX + 2] = "";
        ssize_t lrc = dk_url_query_get(r->query, r->query_len, "level", level, sizeof(level));
        ssize_t src = dk_url_query_get(r->query, r->query_len, "subsystem", sub, sizeof(sub));
        int lv = -1;
        if (lrc < 0 || (strcmp(level, "default") != 0 && dk_log_level_parse(level, &lv) != 0) ||
            (src == DK_ENOTFOUND && lv < 0)) {
            ll_reply(j, 400, "bad_level",
                     "level= one of error, warn, info, debug (default: only with subsystem=)");
            return 0;
        }
        if (src == DK_ENOTFOUND) {
            dk_log_set_level(lv);
            dk_log(DK_LOG_WARN, "api: log level set to %s through /admin/loglevel", ll_names[lv]);
        } else if (src < 0 || dk_log_set_subsystem_level(sub, lv) != 0) {
            ll_reply(j, 400, "bad_subsystem",
                     "subsystem= a name of a-z, 0-9 and '-' (at most 24; at most 32 "
                     "subsystems with their own level)");
            return 0;
        } else {
            dk_log(DK_LOG_WARN, "api: log level of %s set to %s through /admin/loglevel", sub,
                   lv < 0 ? "the node's" : ll_names[lv]);
        }
    } else if (r->method != HTTP_GET && r->method != HTTP_HEAD) {
        dk_buf_append_str(&j->headers, "Allow: GET, POST\r\n");
        ll_reply(j, 405, "method_not_allowed", "GET /admin/loglevel shows, POST ?level=[&subsystem=] sets");
        return 0;
    }
    json_t *subs = json_object();
    dk_log_each_subsystem(ll_add, subs);
    dk__api_json(j, 200,
                 json_pack("{s:s, s:s, s:o}", "level", ll_names[dk_log_level() & 3], "format",
                           dk_log_json() ? "json" : "text", "subsystems", subs));
    ll_reply(j, 200, NULL, NULL);
    return 0;
}
