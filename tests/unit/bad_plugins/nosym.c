/*
 * nosym.c - a shared object that is not a dynkv plugin: it exports a
 * function, but not dynkv_plugin_entry. The loader must say the symbol is
 * missing. Built as engine-nosym.so.
 */
#include "dynkv/types.h"

DK_EXTERN int dk_test_not_an_entry(void);
DK_EXTERN int dk_test_not_an_entry(void)
{
    return 42;
}
