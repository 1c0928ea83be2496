/*
 * fuzz-object.c - libFuzzer target for the two parsers of untrusted bytes
 * in framework/object.c and framework/context.c: the stored object
 * encoding (bytes read back from an engine or received from a replica) and
 * client context tokens (an HTTP header).
 *
 * Beyond "never crash", it checks the properties the decoders promise:
 * whatever decodes re-encodes to the very same bytes (object, with the
 * type its header names, and base64url token), the O(1) header read agrees with the full decode, the head
 * decode (dk_object_decode_head) gives its version fields and, on any
 * prefix, never a value past the prefix's end, and the DVV
 * sync of a decoded object with itself is idempotent. A violated property
 * aborts, which libFuzzer reports as a crash with the input saved.
 *
 * Build (clang): -fsanitize=fuzzer,address,undefined with framework/object.c
 * framework/context.c framework/util/vv.c framework/util/crc32c.c
 * framework/util/buf.c framework/util/errors.c, include paths
 * framework/include and framework, and -ljansson.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "node/object.h"
#include "node/context.h"
#include "util/vv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fz_check(int ok)
{
    if (!ok)
        abort();
}

static void fz_object(const uint8_t *data, size_t size)
{
    dk_slice in = {data, size};
    dk_object o, m;
    dk_object_header h;
    dk_buf again = DK_BUF_INIT;
    char err[160];
    int64_t w, e;

    /* The record callbacks take any bytes. */
    (void)dk_object_record_filter(in, INT64_MAX / 2, 1000);
    int peek_rc = dk_object_peek(in, &h);
    fz_check((dk_object_record_time(in, &w, &e) == 0) == (peek_rc == 0));

    /* A head decode takes any bytes; from a whole valid object it gives the
     * whole decode's version fields (checked below). */
    dk_object hd;
    dk_object_init(&hd);
    int head_rc = dk_object_decode_head(in, &hd);
    if (head_rc)
        fz_check(hd.n_sib == 0);

    dk_object_init(&o);
    int rc = dk_object_decode(in, &o, err, sizeof(err));
    if (rc != 0) {
        dk_object_free(&hd);
        fz_check(rc == DK_ECORRUPT || rc == -ENOMEM);
        fz_check(o.n_sib == 0);
        dk_object_free(&o);
        return;
    }
    fz_check(peek_rc == 0 && h.n_siblings == o.n_sib && h.total_len == size);
    fz_check(head_rc == 0 && hd.n_sib == o.n_sib && dk_vv_compare(&hd.vv, &o.vv) == DK_VV_EQUAL);
    for (uint32_t i = 0; i < o.n_sib; i++)
        fz_check(hd.sib[i].counter == o.sib[i].counter && hd.sib[i].value.len == o.sib[i].value.len &&
                 hd.sib[i].value.ptr == o.sib[i].value.ptr);
    dk_object_free(&hd);
    /* Every prefix of it: a head decode never claims a value it lacks. */
    for (size_t cut = 0; cut < size; cut += 1 + size / 16) {
        dk_object_init(&hd);
        if (dk_object_decode_head((dk_slice){data, cut}, &hd) == 0) {
            fz_check(hd.n_sib == o.n_sib);
            for (uint32_t i = 0; i < hd.n_sib; i++)
                fz_check(!hd.sib[i].value.ptr || hd.sib[i].value.ptr + hd.sib[i].value.len <= data + cut);
        }
        dk_object_free(&hd);
    }
    fz_check(dk_object_encode_typed(&o, h.type, &again) == 0);
    fz_check(again.len == size && memcmp(again.data, data, size) == 0);

    dk_object_init(&m);
    fz_check(dk_dvv_sync(&o, &o, &m) == 0);
    fz_check(m.n_sib <= o.n_sib && dk_vv_compare(&m.vv, &o.vv) == DK_VV_EQUAL);
    dk_object_free(&m);
    dk_object_free(&o);
    dk_buf_free(&again);
}

static const uint8_t fz_key[DK_CONTEXT_KEY_LEN] = {42};

static void fz_token(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    dk_vv v, back;
    dk_buf tok = DK_BUF_INIT;
    char err[160];
    dk_vv_init(&v);
    dk_vv_init(&back);
    int rc = dk_context_decode(fz_key, s, size, &v, NULL, err, sizeof(err));
    if (rc != 0) {
        fz_check(rc == DK_ECORRUPT || rc == -EINVAL || rc == -ENOMEM);
        fz_check(v.n == 0);
        goto out;
    }
    /* Any decoded context re-encodes, and the token decodes to it again. */
    fz_check(dk_context_encode(fz_key, &v, &tok) == 0);
    fz_check(dk_context_decode(fz_key, (const char *)tok.data, tok.len, &back, NULL, err, sizeof(err)) == 0);
    fz_check(back.n == v.n && dk_vv_compare(&back, &v) == DK_VV_EQUAL);
    for (uint32_t i = 0; i < v.n; i++)
        fz_check(back.e[i].time_ms == v.e[i].time_ms);
    /* A base64url token without blanks is canonical: byte-exact. */
    if (size && s[0] != '{' && memchr(s, ' ', size) == NULL && memchr(s, '\t', size) == NULL)
        fz_check(tok.len == size && memcmp(tok.data, s, size) == 0);
    dk_buf_reset(&tok);
    fz_check(dk_vv_to_json(&v, &tok) == 0);
out:
    dk_vv_free(&v);
    dk_vv_free(&back);
    dk_buf_free(&tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_object(data, size);
    fz_token(data, size);
    return 0;
}
