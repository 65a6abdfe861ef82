/*
 * isoproxy bench load client: HTTP/1.1 over plain TCP, one blocking thread per connection, bodies
 * read into a reused buffer and discarded. A Node client is slower than nginx and one curl tops
 * out near nginx's speed on this machine, so the range patterns are driven from C.
 * Compiled at bench time by bench/run.ts: gcc -O2 -pthread -o bench/out/client bench/client.c
 *
 * Usage: client MODE HOST PORT [options]  (prints one JSON object on stdout)
 *   get   --conns N --path P [--repeat K]           N connections, each K whole-image GETs (no Range)
 *   seq   --path P --size S --chunk C                one keep-alive connection, ranges of C bytes from 0 to S
 *   rand  --conns N --path P --size S --chunk C --seconds T [--seed X]
 *                                                    N connections, C-byte ranges at 4 KiB-aligned
 *                                                    pseudo-random offsets for T seconds
 *   wave  --paths FILE --chunk C                     one connection per line of FILE (a node's path): HEAD,
 *                                                    then sequential C-byte ranges, the last one past the end
 *         [--limit-bytes B]                          (read only the first B bytes of each image, then the last range)
 *
 * Every response is checked: status (200 for get, 206 for ranges), Content-Length present and
 * equal to what was asked (clamped at the image's end). Any mismatch counts as an error and ends
 * that connection. Latencies are per request (request sent -> last body byte) and time to first
 * body byte; the client's own CPU time is reported so the caller can say which side saturated.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF_BYTES (256 * 1024)
#define HDR_MAX 16384

static const char *g_host = "127.0.0.1";
static int g_port = 0;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Growable array of doubles (latencies in seconds). */
typedef struct {
  double *v;
  size_t n, cap;
} vec_t;

static void vec_push(vec_t *a, double x) {
  if (a->n == a->cap) {
    a->cap = a->cap ? a->cap * 2 : 1024;
    a->v = realloc(a->v, a->cap * sizeof(double));
    if (!a->v) { perror("realloc"); exit(2); }
  }
  a->v[a->n++] = x;
}

static void vec_append(vec_t *a, const vec_t *b) {
  for (size_t i = 0; i < b->n; i++) vec_push(a, b->v[i]);
}

static int cmp_double(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return a < b ? -1 : a > b;
}

static double pct(vec_t *a, double p) {
  if (a->n == 0) return 0;
  qsort(a->v, a->n, sizeof(double), cmp_double);
  size_t i = (size_t)(p * (a->n - 1) + 0.5);
  return a->v[i];
}

typedef struct {
  int fd;
  char *buf;     /* BUF_BYTES */
  size_t have;   /* bytes in buf not yet consumed (after a header, the start of a body) */
  size_t off;
} conn_t;

static int conn_open(conn_t *c) {
  c->fd = socket(AF_INET, SOCK_STREAM, 0);
  if (c->fd < 0) return -1;
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)g_port);
  inet_pton(AF_INET, g_host, &sa.sin_addr);
  if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0) { close(c->fd); c->fd = -1; return -1; }
  if (!c->buf) c->buf = malloc(BUF_BYTES);
  c->have = c->off = 0;
  return 0;
}

static void conn_close(conn_t *c) {
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
}

static int send_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0) { if (errno == EINTR) continue; return -1; }
    p += w; n -= (size_t)w;
  }
  return 0;
}

typedef struct {
  int status;
  long long content_length; /* -1 when absent */
  long long range_total;    /* from Content-Range: bytes a-b/total, else -1 */
} resp_t;

/* Reads a response header; leaves any body bytes already received in c->buf[off, off+have). */
static int read_header(conn_t *c, resp_t *r) {
  char hdr[HDR_MAX + 1];
  size_t n = 0;
  /* Move leftovers (pipelining is not used, so normally none) into the header buffer. */
  for (;;) {
    if (c->have == 0) {
      ssize_t got = recv(c->fd, c->buf, BUF_BYTES, 0);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return -1;
      c->off = 0;
      c->have = (size_t)got;
    }
    /* Copy byte by byte up to the end of the header (headers are small; bodies are not copied). */
    while (c->have > 0 && n < HDR_MAX) {
      hdr[n++] = c->buf[c->off++];
      c->have--;
      if (n >= 4 && memcmp(hdr + n - 4, "\r\n\r\n", 4) == 0) goto done;
    }
    if (n >= HDR_MAX) return -1;
  }
done:
  hdr[n] = 0;
  r->status = 0;
  r->content_length = -1;
  r->range_total = -1;
  if (sscanf(hdr, "HTTP/1.%*d %d", &r->status) != 1) return -1;
  for (char *line = strstr(hdr, "\r\n"); line && line[2]; line = strstr(line + 2, "\r\n")) {
    char *l = line + 2;
    if (strncasecmp(l, "content-length:", 15) == 0) r->content_length = atoll(l + 15);
    else if (strncasecmp(l, "content-range:", 14) == 0) {
      char *slash = strchr(l, '/');
      if (slash) r->range_total = atoll(slash + 1);
    }
  }
  return 0;
}

/* Reads and discards `len` body bytes; *ttfb is set (seconds since t0) when the first arrives. */
static int read_body(conn_t *c, long long len, double t0, double *ttfb) {
  int first = 1;
  while (len > 0) {
    if (c->have == 0) {
      size_t want = len < BUF_BYTES ? (size_t)len : BUF_BYTES;
      ssize_t got = recv(c->fd, c->buf, want, 0);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return -1;
      c->off = 0;
      c->have = (size_t)got;
    }
    if (first && ttfb) { *ttfb = now_s() - t0; first = 0; }
    size_t take = c->have < (unsigned long long)len ? c->have : (size_t)len;
    c->have -= take;
    c->off += take;
    len -= (long long)take;
  }
  return 0;
}

/* One request/response on a kept-alive connection (reconnecting once if it was closed). */
static int request(conn_t *c, const char *method, const char *path, long long from, long long to, resp_t *r, double *ttfb, double *total) {
  char req[1024];
  int n;
  if (from >= 0)
    n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: %s\r\nRange: bytes=%lld-%lld\r\n\r\n", method, path, g_host, from, to);
  else
    n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: %s\r\n\r\n", method, path, g_host);
  for (int attempt = 0; attempt < 2; attempt++) {
    if (c->fd < 0 && conn_open(c) < 0) return -1;
    double t0 = now_s();
    if (send_all(c->fd, req, (size_t)n) < 0 || read_header(c, r) < 0) {
      /* An idle keep-alive connection closed by the server: retry once on a new one. */
      conn_close(c);
      continue;
    }
    if (r->content_length < 0) return -1;
    if (strcmp(method, "HEAD") == 0) { if (ttfb) *ttfb = now_s() - t0; *total = now_s() - t0; return 0; }
    if (read_body(c, r->content_length, t0, ttfb) < 0) return -1;
    *total = now_s() - t0;
    return 0;
  }
  return -1;
}

/* ---------------------------------------------------------------- options */

static long long opt_ll(int argc, char **argv, const char *name, long long dflt) {
  for (int i = 4; i + 1 < argc; i++) if (strcmp(argv[i], name) == 0) return atoll(argv[i + 1]);
  return dflt;
}
static double opt_d(int argc, char **argv, const char *name, double dflt) {
  for (int i = 4; i + 1 < argc; i++) if (strcmp(argv[i], name) == 0) return atof(argv[i + 1]);
  return dflt;
}
static const char *opt_s(int argc, char **argv, const char *name, const char *dflt) {
  for (int i = 4; i + 1 < argc; i++) if (strcmp(argv[i], name) == 0) return argv[i + 1];
  return dflt;
}

/* ---------------------------------------------------------------- workers */

typedef struct {
  int id;
  const char *mode;
  const char *path;
  long long size, chunk, limit;
  int repeat;
  double deadline;
  uint64_t seed;
  /* results */
  long long bytes, requests, errors;
  vec_t lat, ttfb;
  double first_byte; /* wave: seconds from the wave's start to this node's first body byte */
  double done_at;    /* seconds from start to this worker's end */
} worker_t;

static double g_start;

static void *run_get(void *arg) {
  worker_t *w = arg;
  conn_t c = {.fd = -1};
  for (int k = 0; k < w->repeat; k++) {
    resp_t r;
    double tt = 0, total = 0;
    if (request(&c, "GET", w->path, -1, -1, &r, &tt, &total) < 0 || r.status != 200) { w->errors++; break; }
    w->bytes += r.content_length;
    w->requests++;
    vec_push(&w->lat, total);
    vec_push(&w->ttfb, tt);
  }
  conn_close(&c);
  free(c.buf);
  w->done_at = now_s() - g_start;
  return NULL;
}

static void *run_seq(void *arg) {
  worker_t *w = arg;
  conn_t c = {.fd = -1};
  for (long long at = 0; at < w->size; at += w->chunk) {
    long long end = at + w->chunk - 1 < w->size - 1 ? at + w->chunk - 1 : w->size - 1;
    resp_t r;
    double tt = 0, total = 0;
    if (request(&c, "GET", w->path, at, end, &r, &tt, &total) < 0 || r.status != 206 || r.content_length != end - at + 1) { w->errors++; break; }
    w->bytes += r.content_length;
    w->requests++;
    vec_push(&w->lat, total);
    vec_push(&w->ttfb, tt);
  }
  conn_close(&c);
  free(c.buf);
  w->done_at = now_s() - g_start;
  return NULL;
}

static void *run_rand(void *arg) {
  worker_t *w = arg;
  conn_t c = {.fd = -1};
  uint64_t x = w->seed * 2654435761u + (uint64_t)w->id * 40503u + 1;
  long long slots = (w->size - w->chunk) / 4096;
  if (slots < 1) slots = 1;
  while (now_s() < w->deadline) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    long long at = (long long)((x >> 33) % (uint64_t)slots) * 4096;
    long long end = at + w->chunk - 1;
    resp_t r;
    double tt = 0, total = 0;
    if (request(&c, "GET", w->path, at, end, &r, &tt, &total) < 0 || r.status != 206 || r.content_length != w->chunk) { w->errors++; break; }
    w->bytes += r.content_length;
    w->requests++;
    vec_push(&w->lat, total);
    vec_push(&w->ttfb, tt);
  }
  conn_close(&c);
  free(c.buf);
  w->done_at = now_s() - g_start;
  return NULL;
}

/* A BMC: HEAD for the size, then sequential ranges, the last asking past the end (clamped by the server). */
static void *run_wave(void *arg) {
  worker_t *w = arg;
  conn_t c = {.fd = -1};
  resp_t r;
  double tt = 0, total = 0;
  w->first_byte = -1;
  if (request(&c, "HEAD", w->path, -1, -1, &r, &tt, &total) < 0 || r.status != 200) { w->errors++; goto out; }
  w->requests++;
  long long size = r.content_length;
  long long stop = w->limit > 0 && w->limit < size ? w->limit : size;
  for (long long at = 0; at < size; at += w->chunk) {
    if (at >= stop && at + w->chunk < size) at = (size - 1) / w->chunk * w->chunk; /* jump to the last range */
    long long end = at + w->chunk - 1;
    if (at + w->chunk >= size && end < size) end = size; /* the last one always runs past the end */
    long long want = (end < size - 1 ? end : size - 1) - at + 1;
    if (request(&c, "GET", w->path, at, end, &r, &tt, &total) < 0 || r.status != 206 || r.content_length != want || r.range_total != size) { w->errors++; break; }
    if (w->first_byte < 0) w->first_byte = now_s() - g_start;
    w->bytes += r.content_length;
    w->requests++;
    vec_push(&w->lat, total);
    vec_push(&w->ttfb, tt);
  }
out:
  conn_close(&c);
  free(c.buf);
  w->done_at = now_s() - g_start;
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: client get|seq|rand|wave HOST PORT [options]\n");
    return 2;
  }
  const char *mode = argv[1];
  g_host = argv[2];
  g_port = atoi(argv[3]);
  int conns = (int)opt_ll(argc, argv, "--conns", 1);
  const char *path = opt_s(argc, argv, "--path", "/");
  long long size = opt_ll(argc, argv, "--size", 0);
  long long chunk = opt_ll(argc, argv, "--chunk", 1 << 20);
  long long limit = opt_ll(argc, argv, "--limit-bytes", 0);
  int repeat = (int)opt_ll(argc, argv, "--repeat", 1);
  double seconds = opt_d(argc, argv, "--seconds", 5);
  uint64_t seed = (uint64_t)opt_ll(argc, argv, "--seed", 1);

  char **paths = NULL;
  if (strcmp(mode, "wave") == 0) {
    const char *file = opt_s(argc, argv, "--paths", NULL);
    FILE *f = file ? fopen(file, "r") : NULL;
    if (!f) { fprintf(stderr, "wave needs --paths FILE\n"); return 2; }
    char line[1024];
    conns = 0;
    while (fgets(line, sizeof line, f)) {
      line[strcspn(line, "\r\n")] = 0;
      if (!line[0]) continue;
      paths = realloc(paths, sizeof(char *) * (size_t)(conns + 1));
      paths[conns++] = strdup(line);
    }
    fclose(f);
  } else if (strcmp(mode, "seq") == 0) {
    conns = 1;
  }
  void *(*fn)(void *) = strcmp(mode, "get") == 0 ? run_get : strcmp(mode, "seq") == 0 ? run_seq : strcmp(mode, "rand") == 0 ? run_rand : strcmp(mode, "wave") == 0 ? run_wave : NULL;
  if (!fn || conns < 1) { fprintf(stderr, "bad mode or no connections\n"); return 2; }

  worker_t *ws = calloc((size_t)conns, sizeof(worker_t));
  pthread_t *ts = calloc((size_t)conns, sizeof(pthread_t));
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  g_start = now_s();
  for (int i = 0; i < conns; i++) {
    ws[i] = (worker_t){.id = i, .mode = mode, .path = paths ? paths[i] : path, .size = size, .chunk = chunk, .limit = limit,
                       .repeat = repeat, .deadline = g_start + seconds, .seed = seed};
    if (pthread_create(&ts[i], &attr, fn, &ws[i]) != 0) { perror("pthread_create"); return 2; }
  }
  for (int i = 0; i < conns; i++) pthread_join(ts[i], NULL);
  double wall = now_s() - g_start;

  long long bytes = 0, requests = 0, errors = 0;
  vec_t lat = {0}, ttfb = {0}, first = {0};
  double last_done = 0;
  for (int i = 0; i < conns; i++) {
    bytes += ws[i].bytes;
    requests += ws[i].requests;
    errors += ws[i].errors;
    vec_append(&lat, &ws[i].lat);
    vec_append(&ttfb, &ws[i].ttfb);
    if (ws[i].first_byte >= 0 && strcmp(mode, "wave") == 0) vec_push(&first, ws[i].first_byte);
    if (ws[i].done_at > last_done) last_done = ws[i].done_at;
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
  double lat50 = pct(&lat, 0.5), lat99 = pct(&lat, 0.99), tt50 = pct(&ttfb, 0.5), tt99 = pct(&ttfb, 0.99);
  double f50 = pct(&first, 0.5), f99 = pct(&first, 0.99);
  printf("{\"mode\":\"%s\",\"conns\":%d,\"bytes\":%lld,\"requests\":%lld,\"errors\":%lld,\"seconds\":%.6f,"
         "\"latP50\":%.6f,\"latP99\":%.6f,\"ttfbP50\":%.6f,\"ttfbP99\":%.6f,\"firstByteP50\":%.6f,\"firstByteP99\":%.6f,"
         "\"clientCpuSeconds\":%.4f}\n",
         mode, conns, bytes, requests, errors, wall, lat50, lat99, tt50, tt99, f50, f99, cpu);
  return errors > 0 ? 1 : 0;
}
