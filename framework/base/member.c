/*
 * member.c - names of member states, both ways (see member.h).
 */
#include <errno.h>
#include <string.h>

#include "base/member.h"

const char *dk_member_state_name(dk_member_state s)
{
    static const char *const names[] = {"joining", "normal", "leaving", "suspect", "down", "removed"};
    return (unsigned)s <= DK_MEMBER_REMOVED ? names[s] : "unknown";
}

int dk_member_state_parse(const char *name, dk_member_state *out)
{
    for (int s = DK_MEMBER_JOINING; s <= DK_MEMBER_REMOVED; s++)
        if (!strcmp(name, dk_member_state_name((dk_member_state)s))) {
            *out = (dk_member_state)s;
            return 0;
        }
    return -EINVAL;
}
