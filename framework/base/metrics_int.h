/*
 * metrics_int.h - private to framework/base's metrics files.
 */
#ifndef DK_METRICS_INT_H
#define DK_METRICS_INT_H

/* The HELP text of a named series as passed to dk_metrics_add and
 * dk_metrics_set_* ("coord_reads_total"), or NULL when the table has none
 * (the series renders with a generic HELP line). Static text; any thread. */
const char *dk__metrics_help(const char *name);
#endif
