// The sender threads of the sendfile addon (sender.c) and what the N-API glue (sendfile.c)
// needs of them: a job (one span of a file to one socket, on duplicated descriptors), a sender
// (a thread with its epoll, its queue and its jobs), and the send on the calling thread.

#ifndef ISOPROXY_SENDER_H
#define ISOPROXY_SENDER_H

#define _GNU_SOURCE
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

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
  int corked;  /* TCP_CORK set on the socket by this job */
  /* A job that must not start before job `after` (same socket) has ended well; 0 for none. */
  uint32_t after;
  struct job *next; /* in the incoming, active or held list */
} job_t;

/* Jobs recently ended, and whether well, by id (direct-mapped: an entry lasts until ENDED_SLOTS
 * more ids have been handed out): a successor may arrive after its predecessor ended. */
#define ENDED_SLOTS 65536

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
  uint32_t ended_id[ENDED_SLOTS];
  uint8_t ended_ok[ENDED_SLOTS];
} sender_t;

/* Called by a sender thread when a job has ended (its descriptors closed): the glue reports it to
 * JavaScript and frees it. The job must not be touched by the sender after this. */
void sender_report(job_t *j);

int sender_start(sender_t *s);
void sender_submit(sender_t *s, job_t *j);
void sender_cancel(sender_t *s, uint32_t id);
void sender_stop(sender_t *s);
int64_t send_now(int sock, int file, int64_t offset, int64_t length, const void *head, size_t head_len);

#endif
