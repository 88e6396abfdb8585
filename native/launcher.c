/*
 * berth-init's resident half: one process per daemon that forks each container's first
 * process from itself, without an exec. Started by the daemon (kernel/launcher.ts) as
 *
 *   berth-init --launcher PADDING
 *
 * with descriptors 0 the requests, 1 the answers, 2 the daemon's stderr and 4 the mount
 * template (it closes any other). An exec of berth-init cost the daemon's thread 0.7-1.4 ms a container on the VM
 * berth was measured on (its posix_spawn waits until the child has exec'd, and the kernel
 * builds a new address space for it), and reading the child's start time right after it
 * 0.2-0.4 ms more; a fork of this small static process costs the launcher ~0.1 ms, on
 * whichever core it runs (docs/decisions.md).
 *
 * A request is a 32-bit length in the host's byte order, then that many bytes: the count of
 * arguments and the count of environment entries, each as decimal text ending in NUL, then
 * the arguments (berth-init.c's, without the program name) and the entries, each ending in
 * NUL. Answers are lines, each written in one write (atomic on a pipe), mixed with the
 * children's reports on the same pipe (berth-init.c):
 *   started PID STARTTIME   a request's child exists (STARTTIME: /proc/PID/stat field 22)
 *   unstarted WHY           a request that made no child (answers keep the requests' order)
 *   exited PID STATUS       a child ended (STATUS: wait(2)'s status word)
 * The end of the requests (the daemon closed them, or died) ends the launcher; its children
 * run on, as they would have after the daemon's death when it was their parent.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "berth-init.h"

enum { REQUEST_FD = 0, ANSWER_FD = 1, MAX_REQUEST = 16 << 20 };

extern char **environ;

/*
 * The memory /proc/PID/cmdline shows: the launcher's own arguments, padded by the daemon.
 * A child writes its container's arguments there, as an exec'd berth-init had them: a
 * restarted daemon finds a start it did not finish by them (processesWithArguments).
 */
static char *title;
static size_t title_size;

/* One answer line, in one write. */
static void answer(const char *format, ...) __attribute__((format(printf, 1, 2)));
static void answer(const char *format, ...) {
  char line[1024];
  va_list ap;
  va_start(ap, format);
  int length = vsnprintf(line, sizeof line, format, ap);
  va_end(ap);
  if (length < 0) return;
  if ((size_t)length >= sizeof line) length = sizeof line - 1;
  // The daemon may be gone (EPIPE): its requests' end comes next and ends this process.
  while (write(ANSWER_FD, line, (size_t)length) < 0 && errno == EINTR) {
  }
}

/* Reads exactly `size` bytes: 1 when read, 0 at the end of input before any, -1 otherwise. */
static int read_exactly(int fd, void *buffer, size_t size) {
  size_t done = 0;
  while (done < size) {
    ssize_t got = read(fd, (char *)buffer + done, size - done);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return done == 0 && got == 0 ? 0 : -1;
    done += (size_t)got;
  }
  return 1;
}

/* The title: `argv` NUL-separated, cut at the last whole argument that fits, the rest NULs (the kernel then shows it all). */
static void set_title(char **argv) {
  size_t used = 0;
  for (char **arg = argv; *arg; arg++) {
    size_t length = strlen(*arg) + 1;
    if (used + length > title_size) break;
    memcpy(title + used, *arg, length);
    used += length;
  }
  memset(title + used, 0, title_size - used);
}

/* The child's start time (clock ticks since boot), as the daemon reads it to know a pid's process for good. */
static int start_time_of(pid_t pid, char *out, size_t size) {
  char path[64], stat[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t length = read(fd, stat, sizeof stat - 1);
  close(fd);
  if (length <= 0) return 0;
  stat[length] = '\0';
  // Fields after the command name (which may hold spaces and parentheses): state is field 3, the start time 22.
  char *field = strrchr(stat, ')');
  for (int number = 2; field && number < 22; number++) field = strchr(field + 1, ' ');
  if (!field) return 0;
  size_t digits = strspn(field + 1, "0123456789");
  if (digits == 0 || digits >= size) return 0;
  memcpy(out, field + 1, digits);
  out[digits] = '\0';
  return 1;
}

/* This process's scheduling policy, best effort: musl's sched_setscheduler is a stub (Linux's call is per thread, not POSIX's per process), so the system call itself. */
static void set_policy(int policy) {
  struct sched_param none = {.sched_priority = 0};
  syscall(SYS_sched_setscheduler, 0, policy, &none);
}

/* Collects every child that has ended and says so. */
static void report_exits(void) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) answer("exited %d %d\n", (int)pid, status);
}

/*
 * In the child: as an exec'd berth-init started by posix_spawn was (a session of its own,
 * every signal at its default and none blocked, stdio on /dev/null, the report pipe at 3),
 * then the container.
 */
static void become_container(char **argv, char **env, int signals) {
  set_policy(SCHED_OTHER);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  signal(SIGPIPE, SIG_DFL);
  close(signals);
  setsid();
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (dup2(ANSWER_FD, REPORT_FD) < 0 || null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(null, STDOUT_FILENO) < 0 || dup2(null, STDERR_FILENO) < 0) {
    answer("failed %d cannot set up the container's descriptors: %s\n", (int)getpid(), strerror(errno));
    _exit(SETUP_FAILED);
  }
  close(null);
  environ = env;
  set_title(argv);
  int argc = 0;
  while (argv[argc]) argc++;
  exit(run_container(argc, argv));
}

/* `count` NUL-terminated strings from `*cursor` (before `end`), as a NULL-terminated array after `first` (NULL for none); NULL when they are not all there. */
static char **strings(char **cursor, const char *end, unsigned long count, const char *first) {
  size_t offset = first ? 1 : 0;
  char **out = calloc(count + offset + 1, sizeof *out);
  if (!out) return NULL;
  if (first) out[0] = (char *)first;
  for (unsigned long i = 0; i < count; i++) {
    char *nul = memchr(*cursor, '\0', (size_t)(end - *cursor));
    if (!nul) {
      free(out);
      return NULL;
    }
    out[offset + i] = *cursor;
    *cursor = nul + 1;
  }
  return out;
}

/* A count in a request: decimal digits, no more than the request's length (each string takes a byte at least). */
static int is_count(const char *text, uint32_t length) {
  return *text && strspn(text, "0123456789") == strlen(text) && strlen(text) < 10 && strtoul(text, NULL, 10) <= length;
}

/* Reads one request and forks its child; 0 once the requests have ended (or cannot be read on). */
static int serve_request(int signals) {
  uint32_t length;
  int got = read_exactly(REQUEST_FD, &length, sizeof length);
  if (got == 0) return 0;
  if (got < 0 || length > MAX_REQUEST) {
    fprintf(stderr, "berth-init launcher: cannot read a request (%s): stopping\n", got < 0 ? strerror(errno) : "too long");
    return 0;
  }
  char *payload = malloc((size_t)length + 1);
  if (!payload || read_exactly(REQUEST_FD, payload, length) != 1) {
    fprintf(stderr, "berth-init launcher: cannot read a request of %u bytes: stopping\n", length);
    free(payload);
    return 0;
  }
  payload[length] = '\0';
  char *cursor = payload;
  const char *end = payload + length;
  char **counts = strings(&cursor, end, 2, NULL);
  int counted = counts && is_count(counts[0], length) && is_count(counts[1], length);
  unsigned long argc = counted ? strtoul(counts[0], NULL, 10) : 0;
  unsigned long envc = counted ? strtoul(counts[1], NULL, 10) : 0;
  char **argv = counts && argc > 0 ? strings(&cursor, end, argc, "berth-init") : NULL;
  char **env = argv ? strings(&cursor, end, envc, NULL) : NULL;
  if (!argv || !env) {
    answer("unstarted the request is malformed\n");
  } else {
    pid_t pid = fork();
    if (pid == 0) become_container(argv, env, signals);
    char start[32];
    if (pid < 0) answer("unstarted cannot fork: %s\n", strerror(errno));
    else if (!start_time_of(pid, start, sizeof start)) answer("started %d ?\n", (int)pid);
    else answer("started %d %s\n", (int)pid, start);
  }
  free(counts);
  free(argv);
  free(env);
  free(payload);
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 3 || strcmp(argv[1], "--launcher") != 0) {
    fprintf(stderr, "usage: berth-init --launcher PADDING (the daemon starts it: kernel/launcher.ts)\n");
    return 2;
  }
  // What else the daemon's process held open is not the containers' (the daemon marks its
  // own close-on-exec; a caller that did not is no reason for a container to hold them).
  if (syscall(SYS_close_range, TEMPLATE_FD + 1, ~0U, 0) != 0) {
    for (int fd = TEMPLATE_FD + 1; fd < 1024; fd++) close(fd);
  }
  title = argv[0];
  title_size = (size_t)(argv[2] + strlen(argv[2]) + 1 - argv[0]);
  set_title((char *[]){argv[0], argv[1], NULL});
  // SCHED_BATCH: woken by a request, the launcher does not preempt the daemon's thread that
  // wrote it (the kernel preempts on wakeup only for SCHED_OTHER), but runs when a core is
  // free. Preempting, it took 0.5 ms of that thread's time a start with both cores busy.
  // Its children go back to SCHED_OTHER (become_container).
  set_policy(SCHED_BATCH);
  // Answers to a daemon that is gone fail with EPIPE instead of ending this process.
  signal(SIGPIPE, SIG_IGN);
  sigset_t child_ended;
  sigemptyset(&child_ended);
  sigaddset(&child_ended, SIGCHLD);
  sigprocmask(SIG_BLOCK, &child_ended, NULL);
  int signals = signalfd(-1, &child_ended, SFD_CLOEXEC | SFD_NONBLOCK);
  if (signals < 0) {
    fprintf(stderr, "berth-init launcher: signalfd: %s\n", strerror(errno));
    return 1;
  }
  struct pollfd watched[2] = {{.fd = REQUEST_FD, .events = POLLIN}, {.fd = signals, .events = POLLIN}};
  for (;;) {
    if (poll(watched, 2, -1) < 0) {
      if (errno == EINTR) continue;
      fprintf(stderr, "berth-init launcher: poll: %s\n", strerror(errno));
      return 1;
    }
    if (watched[1].revents) {
      struct signalfd_siginfo info;
      while (read(signals, &info, sizeof info) > 0) {
      }
      report_exits();
    }
    if (watched[0].revents && !serve_request(signals)) return 0;
  }
}
