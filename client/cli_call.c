/*
 * cli_call.c - how the dynkv CLI talks to a node: the node address, the
 * headers every request carries (X-Consistency, X-Quorum, and the bearer
 * token of --token or $DYNKV_TOKEN), percent-encoding, and turning an
 * error answer into a message and an exit status. The token also goes to
 * the other members that `status` asks for their /info; it is never
 * printed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_parse_node(cli *c, const char *spec)
{
    const char *colon;
    const char *host = spec;
    size_t hlen;
    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (!close || close[1] != ':')
            return -1;
        host = spec + 1;
        hlen = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = strrchr(spec, ':');
        if (!colon)
            return -1;
        hlen = (size_t)(colon - spec);
    }
    const char *port = colon + 1;
    if (hlen == 0 || hlen >= sizeof(c->host) || !*port || strlen(port) >= sizeof(c->port) ||
        strspn(port, "0123456789") != strlen(port))
        return -1;
    memcpy(c->host, host, hlen);
    c->host[hlen] = '\0';
    strcpy(c->port, port);
    return 0;
}

void cli_add_header(cli *c, const char *name, const char *value)
{
    if (c->n_hdrs < CLI_MAX_HEADERS) {
        c->hdrs[c->n_hdrs].name = name;
        c->hdrs[c->n_hdrs].value = value;
        c->n_hdrs++;
    }
}

/* Percent-encode every byte that is not unreserved (RFC 3986). Caller frees. */
char *cli_encode(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = malloc(3 * n + 1), *p = out;
    if (!out)
        return NULL;
    for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
        if ((*q >= 'A' && *q <= 'Z') || (*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '-' ||
            *q == '.' || *q == '_' || *q == '~') {
            *p++ = (char)*q;
        } else {
            *p++ = '%';
            *p++ = hex[*q >> 4];
            *p++ = hex[*q & 15];
        }
    }
    *p = '\0';
    return out;
}

/* One request with the global headers plus `extra`; maps transport
 * failures to EX_CONNECT. Returns 0 or an exit code. */
int cli_call(cli *c, const char *method, const char *target, const dk_hc_header *extra, size_t n_extra,
             const void *body, size_t len, dk_hc_response *r)
{
    dk_hc_header all[CLI_MAX_HEADERS * 2 + 1];
    size_t n = 0;
    if (c->authorization)
        all[n++] = (dk_hc_header){"Authorization", c->authorization};
    for (size_t i = 0; i < c->n_hdrs; i++)
        all[n++] = c->hdrs[i];
    for (size_t i = 0; i < n_extra && n < sizeof(all) / sizeof(all[0]); i++)
        all[n++] = extra[i];
    char err[512];
    if (dk__hc_request(c->host, c->port, method, target, all, n, body, len, c->timeout_ms, r, err,
                       sizeof(err)) != 0)
        return cli_die(EX_CONNECT, "%s %s:%s: %s", method, c->host, c->port, err);
    return 0;
}

int cli_call_member(const cli *c, const char *http, const char *target, dk_hc_response *r)
{
    cli m = *c;
    m.timeout_ms = c->timeout_ms < 3000 ? c->timeout_ms : 3000;
    if (!http || !*http || cli_parse_node(&m, http) != 0)
        return -1;
    dk_hc_header auth = {"Authorization", c->authorization};
    char err[256];
    return dk__hc_request(m.host, m.port, "GET", target, &auth, c->authorization ? 1 : 0, NULL, 0,
                          m.timeout_ms, r, err, sizeof(err));
}

/* Report a non-2xx answer from the server's JSON error and pick the exit
 * code for it. */
int cli_server_error(const char *what, const dk_hc_response *r)
{
    json_t *j = json_loadb(r->body, r->body_len, 0, NULL);
    const char *code = j ? json_string_value(json_object_get(j, "error")) : NULL;
    const char *msg = j ? json_string_value(json_object_get(j, "message")) : NULL;
    char extra[160] = "";
    json_t *acks = j ? json_object_get(j, "acks") : NULL;
    if (json_is_integer(acks))
        snprintf(extra, sizeof(extra), "; %lld acknowledged, %lld needed, %lld replicas",
                 (long long)json_integer_value(acks),
                 (long long)json_integer_value(json_object_get(j, "needed")),
                 (long long)json_integer_value(json_object_get(j, "replicas")));
    if (r->status == 401 || r->status == 403)
        snprintf(extra, sizeof(extra), "; %s",
                 r->status == 401 ? "give a token with --token or $DYNKV_TOKEN"
                                  : "this token's role does not allow it");
    int ex = r->status == 401 || r->status == 403     ? EX_AUTH
             : r->status == 412                       ? EX_PRECOND
             : (r->status == 503 || r->status == 504) ? EX_UNAVAILABLE
                                                      : EX_ERROR;
    if (msg)
        cli_die(ex, "%s: %s (HTTP %d %s%s)", what, msg, r->status, code ? code : "", extra);
    else
        cli_die(ex, "%s: HTTP %d: %.200s", what, r->status, r->body_len ? r->body : "(no body)");
    json_decref(j);
    return ex;
}

json_t *cli_json(const dk_hc_response *r, const char *what)
{
    json_error_t e;
    json_t *j = json_loadb(r->body, r->body_len, 0, &e);
    if (!j || !json_is_object(j)) {
        cli_die(EX_ERROR, "%s: the answer is not a JSON object (%s)", what, j ? "wrong type" : e.text);
        json_decref(j);
        return NULL;
    }
    return j;
}

/* GET target on c's node as a JSON object, or NULL after reporting (*ex set). */
json_t *cli_get_doc(cli *c, const char *target, const char *what, int *ex)
{
    dk_hc_response r;
    if ((*ex = cli_call(c, "GET", target, NULL, 0, NULL, 0, &r)) != 0)
        return NULL;
    json_t *j = NULL;
    if (r.status != 200)
        *ex = cli_server_error(what, &r);
    else if (!(j = cli_json(&r, what)))
        *ex = EX_ERROR;
    dk__hc_response_free(&r);
    return j;
}
