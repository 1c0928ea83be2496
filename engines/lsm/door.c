/*
 * door.c - the admission doorkeeper (door.h).
 */
#include "door.h"

#include <stddef.h>

int dk__lsm_door_admit(lsm_door *d, uint64_t h)
{
    uint64_t bit = 1ull << (h & 63), w = (h >> 6) % LSM_DOOR_WORDS;
    if (atomic_fetch_or_explicit(&d->bits[w], bit, memory_order_relaxed) & bit)
        return 1;
    uint64_t reset = d->reset ? d->reset : LSM_DOOR_RESET;
    if (atomic_fetch_add_explicit(&d->asked, 1, memory_order_relaxed) + 1 >= reset) {
        atomic_store_explicit(&d->asked, 0, memory_order_relaxed);
        for (size_t i = 0; i < LSM_DOOR_WORDS; i++)
            atomic_store_explicit(&d->bits[i], 0, memory_order_relaxed);
    }
    return 0;
}
