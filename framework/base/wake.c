/*
 * wake.c - see wake.h.
 *
 * The eventfd is level-triggered in the loop's epoll set for the handle's
 * whole life (one epoll_ctl at start, none per wake-up), and read empty
 * before cb runs: a send that lands after that read leaves it readable,
 * so the loop comes back (a spurious callback at worst, never a lost
 * one). Without eventfd (not Linux) a non-blocking pipe does the same:
 * every byte written is read before cb, and a full pipe already means a
 * wake-up is pending, so a write that fails with EAGAIN loses nothing.
 */
#include "base/wake.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/eventfd.h>
#endif

static void wake_readable(uv_poll_t *p, int status, int events)
{
    dk_wake *w = p->data;
    (void)events;
    if (status == 0) {
        uint64_t drain[8];
        ssize_t n;
        do
            n = read(w->rfd, drain, w->rfd == w->wfd ? sizeof(uint64_t) : sizeof(drain));
        while (n > 0 ? w->rfd != w->wfd : n < 0 && errno == EINTR);
    }
    /* An error status (the descriptor is gone) still runs cb: whatever
     * was queued is not left waiting. */
    w->cb(w);
}

static int wake_open(dk_wake *w)
{
#ifdef __linux__
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd >= 0) {
        w->rfd = w->wfd = fd;
        return 0;
    }
    if (errno != ENOSYS && errno != EINVAL)
        return -errno;
#endif
    int fds[2];
    if (pipe(fds) < 0)
        return -errno;
    for (int i = 0; i < 2; i++) {
        int fl = fcntl(fds[i], F_GETFL);
        if (fl < 0 || fcntl(fds[i], F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fds[i], F_SETFD, FD_CLOEXEC) < 0) {
            int rc = -errno;
            close(fds[0]);
            close(fds[1]);
            return rc;
        }
    }
    w->rfd = fds[0];
    w->wfd = fds[1];
    return 0;
}

static void wake_fds_close(dk_wake *w)
{
    if (w->wfd != w->rfd)
        close(w->wfd);
    close(w->rfd);
    w->rfd = w->wfd = -1;
}

int dk_wake_init(dk_wake *w, uv_loop_t *loop, void (*cb)(dk_wake *w))
{
    w->cb = cb;
    w->closed = NULL;
    int rc = wake_open(w);
    if (rc)
        return rc;
    rc = uv_poll_init(loop, &w->poll, w->rfd);
    if (rc) {
        wake_fds_close(w);
        return rc;
    }
    w->poll.data = w;
    /* Cannot fail once uv_poll_init took the descriptor (its only error,
     * UV_EEXIST, is checked there). */
    (void)uv_poll_start(&w->poll, UV_READABLE, wake_readable);
    return 0;
}

void dk_wake_send(dk_wake *w)
{
    uint64_t one = 1;
    ssize_t n;
    do
        n = write(w->wfd, &one, w->rfd == w->wfd ? sizeof(one) : 1);
    while (n < 0 && errno == EINTR);
    /* EAGAIN: the counter or pipe is full, so the loop is due to run cb
     * anyway. Nothing else can fail on a descriptor this file owns. */
}

void dk_wake_ref(dk_wake *w)
{
    uv_ref((uv_handle_t *)&w->poll);
}

void dk_wake_unref(dk_wake *w)
{
    uv_unref((uv_handle_t *)&w->poll);
}

static void wake_handle_closed(uv_handle_t *h)
{
    dk_wake *w = h->data;
    wake_fds_close(w);
    if (w->closed)
        w->closed(w);
}

void dk_wake_close(dk_wake *w, void (*closed)(dk_wake *w))
{
    w->closed = closed;
    uv_close((uv_handle_t *)&w->poll, wake_handle_closed);
}
