/*
 * ui.h - the dashboard page served at GET /ui/ (framework/api/ui/index.html,
 * turned into a C array at build time by scripts/embed.sh, so the binary
 * needs no file at run time and the page no CDN).
 */
#ifndef DK_API_UI_H
#define DK_API_UI_H

/* The page's bytes (NUL-terminated, the NUL not counted); static storage. */
extern const unsigned char dk_ui_index[];
extern const unsigned long dk_ui_index_len;
#endif
