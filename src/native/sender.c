// The sender threads of the sendfile addon: each runs an epoll loop over the sockets of its jobs,
// sending with sendfile(2) until a socket is full, then waiting for EPOLLOUT. Jobs arrive through
// a locked queue and an eventfd; cancels likewise. See sendfile.c for the whole design.

#include "sender.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static void *run(void *arg);

static void wake(sender_t *s) {
  uint64_t one = 1;
  ssize_t r;
  do r = write(s->wake, &one, sizeof one);
  while (r < 0 && errno == EINTR);
}

static int pump(sender_t *s, job_t *j);
static void unlink_active(sender_t *s, job_t *j);

/* Ends a job: its descriptors closed, its result queued for the JavaScript thread; then the jobs
 * held behind it start (it ended well) or end too (it did not: their bytes would land after a gap). */
static void finish(sender_t *s, job_t *j) {
  if (j->waiting) epoll_ctl(s->epfd, EPOLL_CTL_DEL, j->sock, NULL);
  /* Uncorking sends what the cork held back (the last partial segment). */
  if (j->corked) {
    int off = 0;
    setsockopt(j->sock, IPPROTO_TCP, TCP_CORK, &off, sizeof off);
  }
  close(j->sock);
  close(j->file);
  j->sock = j->file = -1;
  free(j->head);
  j->head = NULL;
  uint32_t id = j->id;
  int ok = j->err == 0 && j->left == 0;
  s->ended_id[id % ENDED_SLOTS] = id;
  s->ended_ok[id % ENDED_SLOTS] = (uint8_t)ok;
  sender_report(j);
  for (job_t **p = &s->held; *p;) {
    job_t *h = *p;
    if (h->after != id) {
      p = &h->next;
      continue;
    }
    *p = h->next;
    h->after = 0;
    if (!ok) {
      h->err = ECANCELED;
      finish(s, h);
    } else if (pump(s, h)) {
      finish(s, h);
    } else {
      h->next = s->active;
      s->active = h;
    }
    p = &s->held; /* the list may have changed under the recursion */
  }
}

/* Starts a job, or holds it behind its predecessor; one whose predecessor ended badly (or is
 * unknown) ends at once. */
static void begin(sender_t *s, job_t *j) {
  if (j->after != 0) {
    for (job_t *a = s->active; a; a = a->next)
      if (a->id == j->after) {
        j->next = s->held;
        s->held = j;
        return;
      }
    for (job_t *h = s->held; h; h = h->next)
      if (h->id == j->after) {
        j->next = s->held;
        s->held = j;
        return;
      }
    int ok = 0;
    if (s->ended_id[j->after % ENDED_SLOTS] == j->after) ok = s->ended_ok[j->after % ENDED_SLOTS];
    if (!ok) {
      j->err = ECANCELED;
      finish(s, j);
      return;
    }
    j->after = 0;
  }
  if (pump(s, j)) finish(s, j);
  else {
    j->next = s->active;
    s->active = j;
  }
}

/* Sends until done, blocked (then waits for EPOLLOUT) or failed. Returns 1 when the job ended. */
static int wait_writable(sender_t *s, job_t *j) {
  struct epoll_event ev = {.events = EPOLLOUT | EPOLLONESHOT, .data.ptr = j};
  int op = j->waiting ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
  if (epoll_ctl(s->epfd, op, j->sock, &ev) != 0) {
    j->err = errno;
    return 1;
  }
  j->waiting = 1;
  return 0;
}

static int pump(sender_t *s, job_t *j) {
  /* Full segments only while the job sends (nginx's tcp_nopush): Node sets TCP_NODELAY, with which
   * every sendfile call that the socket's room cuts short ends in a small segment of its own, and
   * the client pays a wake-up and a read for each. */
  if (!j->corked) {
    int on = 1;
    j->corked = setsockopt(j->sock, IPPROTO_TCP, TCP_CORK, &on, sizeof on) == 0;
  }
  /* The head first, marked as more to come so it shares a segment with the file's first bytes. */
  while (j->head_done < j->head_len) {
    ssize_t n = send(j->sock, j->head + j->head_done, j->head_len - j->head_done, MSG_MORE | MSG_NOSIGNAL);
    if (n > 0) {
      j->head_done += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return wait_writable(s, j);
    j->err = n < 0 ? errno : EIO;
    return 1;
  }
  while (j->left > 0) {
    off_t off = (off_t)j->offset;
    size_t want = j->left > SLICE ? SLICE : (size_t)j->left;
    ssize_t n = sendfile(j->sock, j->file, &off, want);
    if (n > 0) {
      j->offset += n;
      j->left -= n;
      j->sent += n;
      continue;
    }
    if (n == 0) { /* the file is shorter than promised */
      j->err = EIO;
      return 1;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return wait_writable(s, j);
    j->err = errno;
    return 1;
  }
  return 1;
}

static void unlink_active(sender_t *s, job_t *j) {
  for (job_t **p = &s->active; *p; p = &(*p)->next)
    if (*p == j) {
      *p = j->next;
      return;
    }
}

/* Ends the job `id` with ECANCELED, active or held (jobs held behind it end with it). */
static void cancel_one(sender_t *s, uint32_t id) {
  for (job_t *j = s->active; j; j = j->next)
    if (j->id == id) {
      unlink_active(s, j);
      j->err = ECANCELED;
      finish(s, j);
      return;
    }
  for (job_t **p = &s->held; *p; p = &(*p)->next)
    if ((*p)->id == id) {
      job_t *j = *p;
      *p = j->next;
      j->err = ECANCELED;
      finish(s, j);
      return;
    }
}

/*
 * Takes what JavaScript queued: new jobs (started oldest first), cancels, the stop. Returns 1 on
 * stop. Called after the batch's socket events: a job a cancel ends here is freed once reported,
 * so no event of the batch may refer to it afterwards.
 */
static int take_queued(sender_t *s) {
  uint64_t v;
  while (read(s->wake, &v, sizeof v) > 0) {}
  pthread_mutex_lock(&s->lock);
  job_t *in = s->incoming;
  s->incoming = NULL;
  uint32_t *cancels = s->cancels;
  size_t ncancels = s->ncancels;
  s->cancels = NULL;
  s->ncancels = s->capcancels = 0;
  int stop = s->stop;
  pthread_mutex_unlock(&s->lock);
  /* Submitted newest first: start them oldest first, so a successor finds its predecessor. */
  job_t *fifo = NULL;
  while (in) {
    job_t *j = in;
    in = in->next;
    j->next = fifo;
    fifo = j;
  }
  while (fifo) {
    job_t *j = fifo;
    fifo = fifo->next;
    begin(s, j);
  }
  for (size_t c = 0; c < ncancels; c++) cancel_one(s, cancels[c]);
  free(cancels);
  if (!stop) return 0;
  while (s->held) {
    job_t *j = s->held;
    s->held = j->next;
    j->err = ECANCELED;
    finish(s, j);
  }
  while (s->active) {
    job_t *j = s->active;
    s->active = j->next;
    j->err = ECANCELED;
    finish(s, j);
  }
  return 1;
}

static void *run(void *arg) {
  sender_t *s = arg;
  struct epoll_event evs[64];
  for (;;) {
    int n = epoll_wait(s->epfd, evs, 64, -1);
    if (n < 0 && errno != EINTR) break;
    int woken = 0;
    for (int i = 0; i < n; i++) {
      if (evs[i].data.ptr == NULL) {
        woken = 1;
        continue;
      }
      job_t *j = evs[i].data.ptr;
      if (pump(s, j)) {
        unlink_active(s, j);
        finish(s, j);
      }
    }
    if (woken && take_queued(s)) return NULL;
  }
  return NULL;
}

/* Queues a job for its sender thread. */
void sender_submit(sender_t *s, job_t *j) {
  pthread_mutex_lock(&s->lock);
  j->next = s->incoming;
  s->incoming = j;
  pthread_mutex_unlock(&s->lock);
  wake(s);
}

/* Asks the sender thread to end job `id` (ECANCELED), if it has not ended. */
void sender_cancel(sender_t *s, uint32_t id) {
  pthread_mutex_lock(&s->lock);
  if (s->ncancels == s->capcancels) {
    size_t cap = s->capcancels ? s->capcancels * 2 : 16;
    uint32_t *c = realloc(s->cancels, cap * sizeof *c);
    if (!c) {
      pthread_mutex_unlock(&s->lock);
      return;
    }
    s->cancels = c;
    s->capcancels = cap;
  }
  s->cancels[s->ncancels++] = id;
  pthread_mutex_unlock(&s->lock);
  wake(s);
}

/* Starts a sender thread; 0, or an errno. */
int sender_start(sender_t *s) {
  memset(s, 0, sizeof *s);
  pthread_mutex_init(&s->lock, NULL);
  s->epfd = epoll_create1(EPOLL_CLOEXEC);
  s->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (s->epfd < 0 || s->wake < 0) return errno;
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->wake, &ev);
  return pthread_create(&s->thread, NULL, run, s);
}

/* Ends every job of the thread (ECANCELED) and the thread. */
void sender_stop(sender_t *s) {
  pthread_mutex_lock(&s->lock);
  s->stop = 1;
  pthread_mutex_unlock(&s->lock);
  wake(s);
  pthread_join(s->thread, NULL);
}

/*
 * Whether the file's bytes are in the page cache, probed one byte at the start, the end and every
 * 256 KiB between with RWF_NOWAIT (which fails with EAGAIN rather than wait for the disk). The
 * calling thread is the event loop: it must never wait for a disk read; a range not resident
 * goes to a sender thread instead. A probe error other than EAGAIN says nothing: the send will.
 */
static int resident(int file, int64_t offset, int64_t length) {
  char byte;
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  for (int64_t at = offset;; at += PROBE_STEP) {
    if (at > offset + length - 1) at = offset + length - 1;
    ssize_t n = preadv2(file, &iov, 1, (off_t)at, RWF_NOWAIT);
    if (n < 0 && errno == EAGAIN) return 0;
    if (at == offset + length - 1) return 1;
  }
}

/*
 * send_now(socketFd, fileFd, offset, length, head, headLength): sends on the calling thread until done or
 * the socket is full, without blocking on the socket; returns the file bytes sent (the head, when
 * given, is sent first: when only n of its bytes went, the answer is -(HEAD_PARTIAL + n) and the
 * caller hands the rest on; when none, and when the file's bytes are not in the page cache, the
 * answer is -EAGAIN and nothing was sent), or -errno. Used when no send is in flight: a
 * lone client then gets its bytes without two thread wake-ups per request.
 */
int64_t send_now(int sock, int file, int64_t offset, int64_t length, const void *data, size_t len) {
  /* Nothing is sent (the head neither) when the bytes would have to come from the disk. */
  if (length > 0 && !resident(file, offset, length)) {
    return -EAGAIN;
  }
  {
    if (len > 0) {
      ssize_t n;
      do n = send(sock, data, len, MSG_MORE | MSG_NOSIGNAL | MSG_DONTWAIT);
      while (n < 0 && errno == EINTR);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) errno = EAGAIN;
      if (n < 0) return -errno;
      /* Part of the head went: the rest goes with the file's bytes on a sender thread. */
      if ((size_t)n != len) return -(HEAD_PARTIAL + (int64_t)n);
    }
  }
  int64_t sent = 0;
  while (sent < length) {
    off_t off = (off_t)(offset + sent);
    int64_t left = length - sent;
    ssize_t n = sendfile(sock, file, &off, left > SLICE ? SLICE : (size_t)left);
    if (n > 0) {
      sent += n;
      continue;
    }
    if (n == 0) {
      if (sent == 0) sent = -EIO;
      break;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK && sent == 0) sent = -errno;
    break;
  }
  return sent;
}
