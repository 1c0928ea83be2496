/*
 * dynkv/codec.h - block codecs (ABI 1.1): a small vtable that compresses
 * and decompresses one buffer, so an engine never links a compression
 * library itself and a table written with one codec stays readable after
 * the configured codec changes.
 *
 * An engine asks the host for a codec by name (dk_host.codec_open) and
 * gets a dk_codec_ref: the host's copy of the plugin's ops and the opened
 * codec object. It records the codec's `id` next to every block it
 * compresses, and the codec's name wherever it can find it again at start
 * (the LSM engine's table properties), so it can ask for the same codec
 * when it reads the data back.
 *
 * Ids are part of data on disk and never change: 0 is reserved for stored
 * uncompressed (the "none" codec), 1 zstd, 2 lz4; 3..127 are reserved for
 * codecs shipped with dynkv, 128..255 are free for third-party codecs (an
 * engine may store ids in one byte).
 *
 * The compressed form must let decompress() find the original length (a
 * zstd frame carries it; the lz4 codec prefixes it), so engines store only
 * what compress() wrote. A codec object is thread-safe: engines compress
 * on flush and compaction threads and decompress on readers at once.
 */
#ifndef DK_CODEC_H
#define DK_CODEC_H

#include "dynkv/types.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { DK_CODEC_ID_NONE = 0, DK_CODEC_ID_ZSTD = 1, DK_CODEC_ID_LZ4 = 2 };

/* The base of every codec object. */
typedef struct dk_codec {
    const dk_host *host;
} dk_codec;

/* Options for open(). Fields are appended only; check with DK_HAS(). */
typedef struct dk_codec_conf {
    uint32_t struct_size;
    int32_t level; /* 0 = the codec's default; else level_min..level_max */
} dk_codec_conf;

/*
 * Checklist for whoever extends this table: append only; bump DK_ABI_MINOR;
 * update the host's required-method check (framework/plugin/plugin_host.c)
 * and the wrappers below.
 */
typedef struct dk_codec_ops {
    uint32_t struct_size;
    uint32_t id; /* stable id stored with the data (above) */
    /* Levels the codec accepts (dk_codec_conf.level), and what 0 means.
     * A codec without levels sets all three to 0. */
    int32_t level_min, level_max, level_default;

    /* Required. Open a codec object; a level outside level_min..level_max
     * (other than 0) gives DK_ECONFIG. */
    int (*open)(const dk_host *host, const dk_codec_conf *conf, dk_codec **out);
    /* Required. */
    void (*close)(dk_codec *c);
    /* Required. The most bytes compress() may write for n input bytes. */
    size_t (*bound)(dk_codec *c, size_t n);
    /* Required. Compress src[0..n) into dst[0..cap) (cap >= bound(n)) and
     * store the length written in *out_len. Returns 0 or a negative code
     * (-ENOMEM, DK_ETOOBIG). */
    int (*compress)(dk_codec *c, const uint8_t *src, size_t n, uint8_t *dst, size_t cap, size_t *out_len);
    /* Required. With dst == NULL: store in *out_len the original length
     * recorded in src[0..n) and return 0. Otherwise decompress src[0..n)
     * into dst[0..cap) and store the length in *out_len. Returns 0,
     * DK_ECORRUPT for input it did not write (never reads or writes out of
     * bounds), DK_ETOOBIG when the output does not fit in cap. */
    int (*decompress)(dk_codec *c, const uint8_t *src, size_t n, uint8_t *dst, size_t cap, size_t *out_len);
} dk_codec_ops;

/* An opened codec as dk_host.codec_open hands it to an engine. The host
 * owns both pointers; they stay valid until codec_close. */
typedef struct dk_codec_ref {
    const dk_codec_ops *ops; /* the host's copy of the plugin's ops */
    dk_codec *codec;
    const char *name; /* the plugin's name, e.g. "zstd" */
    uint32_t id;      /* ops->id */
    void *priv;       /* the host's; never touched by the engine */
} dk_codec_ref;

/* Calls through a ref; thread-safe like the codec itself. */
static inline size_t dk_codec_bound(const dk_codec_ref *r, size_t n)
{
    return r->ops->bound(r->codec, n);
}

static inline int dk_codec_compress(const dk_codec_ref *r, const uint8_t *src, size_t n, uint8_t *dst,
                                    size_t cap, size_t *out_len)
{
    return r->ops->compress(r->codec, src, n, dst, cap, out_len);
}

static inline int dk_codec_decompress(const dk_codec_ref *r, const uint8_t *src, size_t n, uint8_t *dst,
                                      size_t cap, size_t *out_len)
{
    return r->ops->decompress(r->codec, src, n, dst, cap, out_len);
}

#ifdef __cplusplus
}
#endif
#endif /* DK_CODEC_H */
