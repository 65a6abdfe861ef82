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
//
// This file is the N-API glue (start, send, sendNow, cancel, and reporting ended jobs); the
// threads, their jobs and the send on the calling thread are in sender.c.

#define NAPI_VERSION 8
#ifndef NODE_GYP_MODULE_NAME
#define NODE_GYP_MODULE_NAME isoproxy_sendfile
#endif

#include "sender.h"

#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

typedef struct module {
  napi_threadsafe_function tsfn;
  sender_t senders[MAX_SENDERS];
  int nsenders;
  int64_t pending; /* jobs submitted and not yet reported (JavaScript thread only) */
  int started;
} module_t;

static module_t mod;

void sender_report(job_t *j) {
  if (napi_call_threadsafe_function(mod.tsfn, j, napi_tsfn_blocking) != napi_ok) free(j);
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
    int err = sender_start(&mod.senders[i]);
    if (err != 0) return throw_errno(env, "sender thread", err);
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
  sender_submit(&mod.senders[(uint32_t)sock % (uint32_t)mod.nsenders], j);
  napi_create_int32(env, 0, &result);
  return result;
}


/*
 * sendNow(socketFd, fileFd, offset, length[, head]): sends on the calling thread until done or
 * the socket is full, without blocking on the socket; returns the file bytes sent (the head, when
 * given, is sent first: when only n of its bytes went, the answer is -(HEAD_PARTIAL + n) and the
 * caller hands the rest on; when none, and when the file's bytes are not in the page cache, the
 * answer is -EAGAIN and nothing was sent), or -errno. Used when no send is in flight: a
 * lone client then gets its bytes without two thread wake-ups per request.
 */
static napi_value send_now_js(napi_env env, napi_callback_info info) {
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
  void *head = NULL;
  size_t head_len = 0;
  bool is_buffer = false;
  if (argc >= 5 && napi_is_buffer(env, argv[4], &is_buffer) == napi_ok && is_buffer) napi_get_buffer_info(env, argv[4], &head, &head_len);
  napi_create_int64(env, send_now(sock, file, offset, length, head, head_len), &result);
  return result;
}

/* cancel(id): the job ends with ECANCELED, if it has not ended already. */
static napi_value cancel_job(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t id;
  if (!mod.started || argc < 1 || napi_get_value_uint32(env, argv[0], &id) != napi_ok) return NULL;
  for (int i = 0; i < mod.nsenders; i++) sender_cancel(&mod.senders[i], id);
  return NULL;
}

/*
 * mmapThreshold(bytes): allocations of at least `bytes` get their own mapping, given back to the
 * system when freed. glibc's default starts at 128 KiB but raises itself to the size of each large
 * block freed, after which 2 MiB cache blocks and IPC messages come from the heap and stay in the
 * process once freed (RSS 157 MiB where 84 suffice, in bench/rss-bench.ts). Setting it fixes it.
 * Returns false where it cannot be set (not glibc).
 */
static napi_value mmap_threshold(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  bool ok = false;
  int32_t bytes;
  if (argc >= 1 && napi_get_value_int32(env, argv[0], &bytes) == napi_ok && bytes > 0) {
#ifdef __GLIBC__
    ok = mallopt(M_MMAP_THRESHOLD, bytes) == 1;
#endif
  }
  napi_value result;
  napi_get_boolean(env, ok, &result);
  return result;
}

static void cleanup(void *arg) {
  (void)arg;
  for (int i = 0; i < mod.nsenders; i++) sender_stop(&mod.senders[i]);
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"start", NULL, start, NULL, NULL, NULL, napi_enumerable, NULL},
      {"send", NULL, send_job, NULL, NULL, NULL, napi_enumerable, NULL},
      {"cancel", NULL, cancel_job, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendNow", NULL, send_now_js, NULL, NULL, NULL, napi_enumerable, NULL},
      {"mmapThreshold", NULL, mmap_threshold, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  napi_add_env_cleanup_hook(env, cleanup, NULL);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
