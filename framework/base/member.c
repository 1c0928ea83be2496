/*
 * member.c - names of member states and ring statuses, both ways, and which
 * statuses each ring holds (see member.h).
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

const char *dk_member_status_name(dk_member_status s)
{
    static const char *const names[] = {"joining", "normal", "leaving", "left", "removed", "replacing"};
    return (unsigned)s <= DK_STATUS_MAX ? names[s] : "unknown";
}

int dk_member_status_parse(const char *name, dk_member_status *out)
{
    for (int s = DK_STATUS_JOINING; s <= DK_STATUS_MAX; s++)
        if (!strcmp(name, dk_member_status_name((dk_member_status)s))) {
            *out = (dk_member_status)s;
            return 0;
        }
    return -EINVAL;
}

int dk_member_status_current(dk_member_status s)
{
    return s == DK_STATUS_NORMAL || s == DK_STATUS_LEAVING || s == DK_STATUS_REPLACING;
}

int dk_member_status_readable(dk_member_status s)
{
    return s == DK_STATUS_NORMAL || s == DK_STATUS_LEAVING;
}

int dk_member_status_future(dk_member_status s)
{
    return s == DK_STATUS_NORMAL || s == DK_STATUS_JOINING || s == DK_STATUS_REPLACING;
}
