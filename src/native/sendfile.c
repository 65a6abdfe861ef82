// Zero-copy sends for the image routes: sendfile(2) from a block file to a client's socket, done
// by sender threads with their own epoll, so the bytes of a cached block go from the page cache to
// the socket without passing through JavaScript memory (Node has no sendfile of its own).
//
// JavaScript hands over a job (id, socket fd, file fd, offset, length); the job keeps its own
// duplicates of both descriptors, so Node closing the socket (client gone, timeout) or the fd
// cache closing the file can never make a sender write to a descriptor number reused by someone
// else. A job ends with the bytes sent, or an errno (EPIPE, ECONNRESET, ECANCELED after cancel);
// the result comes back on the JavaScript thread through one thread-safe function per module.
//
// Sockets are non-blocking (libuv sets O_NONBLOCK on the open file description, which the dup
// shares): a send that would block waits for EPOLLOUT. Node ignores SIGPIPE, so a send to a
// closed socket is an EPIPE. Only plain TCP sockets are handed over; TLS stays in JavaScript.

#define _GNU_SOURCE
#define NAPI_VERSION 8
#ifndef NODE_GYP_MODULE_NAME
#define NODE_GYP_MODULE_NAME isoproxy_sendfile
#endif
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <node_api.h>
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_SENDERS 8
/* One sendfile call moves at most this much, so one fast client cannot hold a sender for long. */
#define SLICE (1 << 20)
#define PROBE_STEP (256 << 10)
/* sendNow's answer when only n bytes of the head went: -(HEAD_PARTIAL + n), apart from -errno. */
#define HEAD_PARTIAL ((int64_t)1 << 20)

typedef struct job {
  uint32_t id;
  int sock;
  int file;
  /* Bytes to write before the file's (an HTTP response head), and how many are written. */
  char *head;
  size_t head_len, head_done;
  int64_t offset;
  int64_t left;
  int64_t sent;
  int err;
  int waiting; /* registered with epoll for EPOLLOUT */
  /* A job that must not start before job `after` (same socket) has ended well; 0 for none. */
  uint32_t after;
  struct job *next; /* in the incoming, active or held list */
} job_t;

/* Jobs recently ended, and whether well: a successor may arrive after its predecessor ended. */
#define ENDED_RING 256

typedef struct sender {
  pthread_t thread;
  int epfd;
  int wake; /* eventfd: new jobs, cancels, stop */
  pthread_mutex_t lock;
  job_t *incoming;          /* submitted, not yet seen by the thread (under lock) */
  uint32_t *cancels;        /* ids to cancel (under lock) */
  size_t ncancels, capcancels;
  int stop;                 /* under lock */
  job_t *active;            /* owned by the thread */
  job_t *held;              /* waiting for their predecessor (owned by the thread) */
  uint32_t ended_id[ENDED_RING];
  uint8_t ended_ok[ENDED_RING];
  size_t ended_next;
} sender_t;

typedef struct module {
  napi_threadsafe_function tsfn;
  sender_t senders[MAX_SENDERS];
  int nsenders;
  int64_t pending; /* jobs submitted and not yet reported (JavaScript thread only) */
  int started;
} module_t;

static module_t mod;

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
  close(j->sock);
  close(j->file);
  j->sock = j->file = -1;
  free(j->head);
  j->head = NULL;
  uint32_t id = j->id;
  int ok = j->err == 0 && j->left == 0;
  s->ended_id[s->ended_next % ENDED_RING] = id;
  s->ended_ok[s->ended_next % ENDED_RING] = (uint8_t)ok;
  s->ended_next++;
  if (napi_call_threadsafe_function(mod.tsfn, j, napi_tsfn_blocking) != napi_ok) free(j);
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
    for (size_t k = 0; k < ENDED_RING && k < s->ended_next; k++) {
      size_t at = (s->ended_next - 1 - k) % ENDED_RING;
      if (s->ended_id[at] == j->after) {
        ok = s->ended_ok[at];
        break;
      }
    }
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

/* On the JavaScript thread: report a finished job as callback(id, sent, errno). */
static void call_js(napi_env env, napi_value cb, void *context, void *data) {
  (void)context;
  job_t *j = data;
  if (env != NULL && cb != NULL) {
    napi_value argv[3], undef;
    napi_create_uint32(env, j->id, &argv[0]);
    napi_create_int64(env, j->sent, &argv[1]);
    napi_create_int32(env, j->err, &argv[2]);
    napi_get_undefined(env, &undef);
    napi_call_function(env, undef, cb, 3, argv, NULL);
  }
  free(j);
  if (env != NULL && --mod.pending == 0) napi_unref_threadsafe_function(env, mod.tsfn);
}

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, "ENATIVE", msg);
  return NULL;
}

/* start(callback, senders): starts the sender threads. */
static napi_value start(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (mod.started) {
    napi_throw_error(env, "ENATIVE", "already started");
    return NULL;
  }
  int32_t n = 1;
  if (argc < 2 || napi_get_value_int32(env, argv[1], &n) != napi_ok || n < 1) n = 1;
  if (n > MAX_SENDERS) n = MAX_SENDERS;
  napi_value name;
  napi_create_string_utf8(env, "isoproxy-sendfile", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[0], NULL, name, 0, 1, NULL, NULL, NULL, call_js, &mod.tsfn) != napi_ok) {
    napi_throw_error(env, "ENATIVE", "cannot create the completion function");
    return NULL;
  }
  napi_unref_threadsafe_function(env, mod.tsfn);
  for (int i = 0; i < n; i++) {
    sender_t *s = &mod.senders[i];
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    s->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->epfd < 0 || s->wake < 0) return throw_errno(env, "epoll", errno);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->wake, &ev);
    if (pthread_create(&s->thread, NULL, run, s) != 0) return throw_errno(env, "pthread_create", errno);
    mod.nsenders = i + 1;
  }
  mod.started = 1;
  return NULL;
}

/*
 * send(id, socketFd, fileFd, offset, length[, head[, after]]): 0, or an errno when the job could
 * not be queued. `head`, a Buffer, is written before the file's bytes (and copied: the caller may
 * drop it). `after`, a job id on the same socket: this one starts when that one has ended well,
 * and ends with ECANCELED when it did not, so a response's spans follow each other on a sender
 * thread without a round trip to JavaScript between them. Jobs of one socket go to one sender.
 */
static napi_value send_job(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7], result;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t id = 0;
  int32_t sock = -1, file = -1;
  int64_t offset = -1, length = -1;
  if (!mod.started || argc < 5 || napi_get_value_uint32(env, argv[0], &id) != napi_ok || napi_get_value_int32(env, argv[1], &sock) != napi_ok ||
      napi_get_value_int32(env, argv[2], &file) != napi_ok || napi_get_value_int64(env, argv[3], &offset) != napi_ok ||
      napi_get_value_int64(env, argv[4], &length) != napi_ok || sock < 0 || file < 0 || offset < 0 || length <= 0) {
    napi_create_int32(env, EINVAL, &result);
    return result;
  }
  job_t *j = calloc(1, sizeof *j);
  if (!j) {
    napi_create_int32(env, ENOMEM, &result);
    return result;
  }
  j->id = id;
  j->offset = offset;
  j->left = length;
  if (argc >= 7) {
    uint32_t after = 0;
    if (napi_get_value_uint32(env, argv[6], &after) == napi_ok) j->after = after;
  }
  if (argc >= 6) {
    bool is_buffer = false;
    void *data = NULL;
    size_t len = 0;
    if (napi_is_buffer(env, argv[5], &is_buffer) == napi_ok && is_buffer && napi_get_buffer_info(env, argv[5], &data, &len) == napi_ok && len > 0) {
      j->head = malloc(len);
      if (!j->head) {
        free(j);
        napi_create_int32(env, ENOMEM, &result);
        return result;
      }
      memcpy(j->head, data, len);
      j->head_len = len;
    }
  }
  j->sock = fcntl(sock, F_DUPFD_CLOEXEC, 0);
  j->file = j->sock < 0 ? -1 : fcntl(file, F_DUPFD_CLOEXEC, 0);
  if (j->sock < 0 || j->file < 0) {
    int err = errno;
    if (j->sock >= 0) close(j->sock);
    free(j->head);
    free(j);
    napi_create_int32(env, err, &result);
    return result;
  }
  if (mod.pending++ == 0) napi_ref_threadsafe_function(env, mod.tsfn);
  sender_t *s = &mod.senders[(uint32_t)sock % (uint32_t)mod.nsenders];
  pthread_mutex_lock(&s->lock);
  j->next = s->incoming;
  s->incoming = j;
  pthread_mutex_unlock(&s->lock);
  wake(s);
  napi_create_int32(env, 0, &result);
  return result;
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
 * sendNow(socketFd, fileFd, offset, length[, head]): sends on the calling thread until done or
 * the socket is full, without blocking on the socket; returns the file bytes sent (the head, when
 * given, is sent first: when only n of its bytes went, the answer is -(HEAD_PARTIAL + n) and the
 * caller hands the rest on; when none, and when the file's bytes are not in the page cache, the
 * answer is -EAGAIN and nothing was sent), or -errno. Used when no send is in flight: a
 * lone client then gets its bytes without two thread wake-ups per request.
 */
static napi_value send_now(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5], result;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t sock = -1, file = -1;
  int64_t offset = -1, length = -1;
  if (argc < 4 || napi_get_value_int32(env, argv[0], &sock) != napi_ok || napi_get_value_int32(env, argv[1], &file) != napi_ok ||
      napi_get_value_int64(env, argv[2], &offset) != napi_ok || napi_get_value_int64(env, argv[3], &length) != napi_ok || sock < 0 ||
      file < 0 || offset < 0 || length < 0) {
    napi_create_int64(env, -EINVAL, &result);
    return result;
  }
  /* Nothing is sent (the head neither) when the bytes would have to come from the disk. */
  if (length > 0 && !resident(file, offset, length)) {
    napi_create_int64(env, -EAGAIN, &result);
    return result;
  }
  if (argc >= 5) {
    bool is_buffer = false;
    void *data = NULL;
    size_t len = 0;
    if (napi_is_buffer(env, argv[4], &is_buffer) == napi_ok && is_buffer && napi_get_buffer_info(env, argv[4], &data, &len) == napi_ok && len > 0) {
      ssize_t n;
      do n = send(sock, data, len, MSG_MORE | MSG_NOSIGNAL | MSG_DONTWAIT);
      while (n < 0 && errno == EINTR);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) errno = EAGAIN;
      if (n < 0) {
        napi_create_int64(env, -errno, &result);
        return result;
      }
      if ((size_t)n != len) {
        /* Part of the head went: the rest goes with the file's bytes on a sender thread. */
        napi_create_int64(env, -(HEAD_PARTIAL + (int64_t)n), &result);
        return result;
      }
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
  napi_create_int64(env, sent, &result);
  return result;
}

/* cancel(id): the job ends with ECANCELED, if it has not ended already. */
static napi_value cancel_job(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t id;
  if (!mod.started || argc < 1 || napi_get_value_uint32(env, argv[0], &id) != napi_ok) return NULL;
  for (int i = 0; i < mod.nsenders; i++) {
    sender_t *s = &mod.senders[i];
    pthread_mutex_lock(&s->lock);
    if (s->ncancels == s->capcancels) {
      size_t cap = s->capcancels ? s->capcancels * 2 : 16;
      uint32_t *c = realloc(s->cancels, cap * sizeof *c);
      if (!c) {
        pthread_mutex_unlock(&s->lock);
        continue;
      }
      s->cancels = c;
      s->capcancels = cap;
    }
    s->cancels[s->ncancels++] = id;
    pthread_mutex_unlock(&s->lock);
    wake(s);
  }
  return NULL;
}

static void cleanup(void *arg) {
  (void)arg;
  for (int i = 0; i < mod.nsenders; i++) {
    sender_t *s = &mod.senders[i];
    pthread_mutex_lock(&s->lock);
    s->stop = 1;
    pthread_mutex_unlock(&s->lock);
    wake(s);
    pthread_join(s->thread, NULL);
  }
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"start", NULL, start, NULL, NULL, NULL, napi_enumerable, NULL},
      {"send", NULL, send_job, NULL, NULL, NULL, napi_enumerable, NULL},
      {"cancel", NULL, cancel_job, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendNow", NULL, send_now, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, 4, props);
  napi_add_env_cleanup_hook(env, cleanup, NULL);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
