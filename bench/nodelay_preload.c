/*
 * Diagnostic for `deno task bench` (BENCH_NODELAY=1): an LD_PRELOAD shim that sets
 * TCP_NODELAY on every socket a server process accepts. Deno.serve (Deno 2.5) leaves Nagle's
 * algorithm on and offers no option to turn it off; with this shim the benchmark shows what
 * the server would gain by disabling it. Not used by Arbiter itself.
 *
 *   cc -shared -fPIC -O2 -o nodelay.so bench/nodelay_preload.c -ldl
 *   LD_PRELOAD=$PWD/nodelay.so deno run -A main.ts
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

static int (*real_accept4)(int, struct sockaddr *, socklen_t *, int);
static int (*real_accept)(int, struct sockaddr *, socklen_t *);

static int nodelay(int fd) {
  if (fd >= 0) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  return fd;
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags) {
  if (!real_accept4) real_accept4 = dlsym(RTLD_NEXT, "accept4");
  return nodelay(real_accept4(fd, addr, len, flags));
}

int accept(int fd, struct sockaddr *addr, socklen_t *len) {
  if (!real_accept) real_accept = dlsym(RTLD_NEXT, "accept");
  return nodelay(real_accept(fd, addr, len));
}
