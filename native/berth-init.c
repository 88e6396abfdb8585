/*
 * berth-init's container half: a container's first process. It puts itself in the
 * container's sandbox, reports how that went, runs the container's command as its child and
 * records the command's exit code. One process instead of the chain it replaces (nsenter,
 * unshare, a wrapper shell, `mount -a`: four programs to load before the command); on the
 * VM berth was measured on, 300 containers' processes started in 0.9 s instead of 4.8 s
 * (docs/decisions.md). Built statically by scripts/build-native.sh with launcher.c, the
 * resident half, which forks this one for each container and calls run_container with:
 *
 * berth-init NETNS HOSTNAME TABLE EXITFILE STDIN STDOUT STDERR USER RO -- COMMAND [ARG...]
 *   NETNS     the network namespace file to enter ("" keeps the caller's: --network host)
 *   HOSTNAME  the container's hostname, set in a UTS namespace of its own
 *   TABLE     the container's mounts in fstab(5) form (kernel/process.ts mountTable)
 *   EXITFILE  where the command's exit code is written: a file of the container's own
 *             directory (made here if missing), which the table may cover (it is reached
 *             through a descriptor)
 *   STDIN     a FIFO in that directory to read stdin from ("" for /dev/null)
 *   STDOUT, STDERR  the container's log files, opened (made if missing) for appending as the
 *             command's stdout and stderr: made here, on whichever core this process runs,
 *             not on the daemon's thread, where three new files a start cost 1-3 ms
 *   USER      USER[:GROUP], names or ids ("" for root)
 *   RO        "ro" for a read-only root filesystem
 * Descriptors: 0-2 /dev/null (stdout and stderr replaced by the logs), 3 the report pipe
 * (the launcher's answers, shared by every container setting up), 4 the mount namespace to
 * copy the container's from (kernel/mount-template.ts). The report is one line: "ready PID"
 * once the command is about to run, or "failed PID why" when the set-up failed (exit 125, as
 * Docker's daemon-side failures). Lines are written whole, in one write each, so lines of
 * containers setting up side by side do not mix. The command gets neither descriptor.
 * Users and groups are read from /etc/passwd and /etc/group, as runc does: no NSS.
 *
 * It stays the command's parent for the exit code: a container outlives a daemon crash,
 * and a restarted daemon is not its parent. It survives SIGTERM, SIGINT and SIGHUP (a
 * handler, so the command keeps default dispositions) until the command is gone: `stop`
 * sees the container running as long as its command runs, then SIGKILLs the group.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <mntent.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "berth-init.h"

struct args {
  const char *netns, *hostname, *table, *exit_file, *stdin_fifo, *stdout_log, *stderr_log, *user;
  int read_only;
  char **command;
};

static void fail(const char *format, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Reports why the set-up failed (one line) and exits; a report nobody reads is no error. */
static void fail(const char *format, ...) {
  char line[1024];
  va_list ap;
  va_start(ap, format);
  vsnprintf(line, sizeof line, format, ap);
  va_end(ap);
  signal(SIGPIPE, SIG_IGN);
  dprintf(REPORT_FD, "failed %d %s\n", (int)getpid(), line);
  _exit(SETUP_FAILED);
}

static const char *base_name(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

/* The directory part of `path`, made (with its parents, as `mkdir -p`) if missing, and opened: the container's own directory. */
static int open_parent(const char *path) {
  char dir[PATH_MAX];
  const char *slash = strrchr(path, '/');
  size_t length = slash ? (size_t)(slash - path) : 0;
  if (length == 0 || length >= sizeof dir) fail("cannot open the container's directory of %s", path);
  memcpy(dir, path, length);
  dir[length] = '\0';
  int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    // The container's first start (later starts make none): as mkdir -p, each component there already answering EEXIST.
    for (char *next = strchr(dir + 1, '/');; next = strchr(next + 1, '/')) {
      if (next) *next = '\0';
      if (mkdir(dir, 0700) != 0 && errno != EEXIST) fail("cannot make the container's directory %s: %s", dir, strerror(errno));
      if (!next) break;
      *next = '/';
    }
    fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  }
  if (fd < 0) fail("cannot open the container's directory %s: %s", dir, strerror(errno));
  return fd;
}

static int parse_id(const char *text, unsigned long *id) {
  char *end;
  if (*text == '\0' || strspn(text, "0123456789") != strlen(text)) return 0;
  errno = 0;
  *id = strtoul(text, &end, 10);
  return errno == 0 && *id < 0xffffffffUL;
}

/* The passwd entry of a user name or id, read from /etc/passwd; NULL when there is none. */
static struct passwd *find_user(const char *user) {
  FILE *file = fopen("/etc/passwd", "re");
  if (!file) return NULL;
  unsigned long id;
  int by_id = parse_id(user, &id);
  struct passwd *entry;
  while ((entry = fgetpwent(file)) != NULL) {
    if (by_id ? entry->pw_uid == id : strcmp(entry->pw_name, user) == 0) break;
  }
  fclose(file);
  return entry;
}

static int find_group(const char *name, gid_t *gid) {
  FILE *file = fopen("/etc/group", "re");
  if (!file) return 0;
  struct group *entry;
  while ((entry = fgetgrent(file)) != NULL) {
    if (strcmp(entry->gr_name, name) == 0) break;
  }
  fclose(file);
  if (entry) *gid = entry->gr_gid;
  return entry != NULL;
}

/* `--user USER[:GROUP]`: a user named must exist (an id need not); its group is its own (0 for an unknown id) unless one is given. */
static void resolve_user(const char *spec, uid_t *uid, gid_t *gid) {
  char user[256];
  const char *colon = strchr(spec, ':');
  size_t length = colon ? (size_t)(colon - spec) : strlen(spec);
  if (length == 0 || length >= sizeof user) fail("invalid user \"%s\"", spec);
  memcpy(user, spec, length);
  user[length] = '\0';
  unsigned long id;
  struct passwd *entry = find_user(user);
  if (parse_id(user, &id)) {
    *uid = (uid_t)id;
    *gid = entry ? entry->pw_gid : 0;
  } else {
    if (!entry) fail("no user %s on this host", user);
    *uid = entry->pw_uid;
    *gid = entry->pw_gid;
  }
  if (!colon) return;
  const char *group = colon + 1;
  if (parse_id(group, &id)) *gid = (gid_t)id;
  else if (!find_group(group, gid)) fail("no group %s on this host", group);
}

/* One fstab option word as a mount flag; 0 for one that is the filesystem's own (size=, mode=). */
static unsigned long mount_flag(const char *option) {
  static const struct { const char *name; unsigned long flag; } known[] = {
    {"bind", MS_BIND}, {"ro", MS_RDONLY}, {"nosuid", MS_NOSUID}, {"nodev", MS_NODEV}, {"noexec", MS_NOEXEC},
  };
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
    if (strcmp(option, known[i].name) == 0) return known[i].flag;
  }
  return 0;
}

/* Mounts every entry of the table, in order: the hosts and resolv.conf binds, sysfs, then the covers of berth's directories. */
static void mount_table(const char *path) {
  FILE *table = setmntent(path, "re");
  if (!table) fail("cannot read the container's mount table %s: %s", path, strerror(errno));
  struct mntent *entry;
  while ((entry = getmntent(table)) != NULL) {
    unsigned long flags = 0;
    char data[256] = "", options[256];
    snprintf(options, sizeof options, "%s", entry->mnt_opts);
    for (char *saved, *option = strtok_r(options, ",", &saved); option; option = strtok_r(NULL, ",", &saved)) {
      unsigned long flag = mount_flag(option);
      if (flag) flags |= flag;
      else if (strcmp(option, "defaults") != 0) snprintf(data + strlen(data), sizeof data - strlen(data), "%s%s", *data ? "," : "", option);
    }
    const char *type = flags & MS_BIND ? NULL : entry->mnt_type;
    if (mount(entry->mnt_fsname, entry->mnt_dir, type, flags, *data ? data : NULL) != 0) {
      fail("cannot mount the container's %s (%s): %s", entry->mnt_dir, entry->mnt_fsname, strerror(errno));
    }
  }
  endmntent(table);
}

/* Into the container's network namespace and the template's mounts, which it shares until make_own_namespaces. */
static void enter_template(const struct args *args) {
  // Opened before the mount namespace changes: the pin under /run/netns is in the caller's.
  int netns = -1;
  if (*args->netns) {
    netns = open(args->netns, O_RDONLY | O_CLOEXEC);
    if (netns < 0) fail("cannot open the network namespace %s: %s", args->netns, strerror(errno));
  }
  if (netns >= 0 && setns(netns, CLONE_NEWNET) != 0) fail("cannot enter the network namespace %s: %s", args->netns, strerror(errno));
  if (setns(TEMPLATE_FD, CLONE_NEWNS) != 0) fail("cannot enter the containers' mount namespace: %s", strerror(errno));
  close(TEMPLATE_FD);
  if (netns >= 0) close(netns);
}

/* A copy of the template's mounts and a UTS namespace of the container's own. */
static void make_own_namespaces(const struct args *args) {
  if (unshare(CLONE_NEWNS | CLONE_NEWUTS) != 0) fail("cannot make the container's mount and UTS namespaces: %s", strerror(errno));
  // Nothing mounted here reaches the template or the host.
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) fail("cannot make the container's mounts private: %s", strerror(errno));
  // Docker's default working directory.
  if (chdir("/") != 0) fail("cannot enter /: %s", strerror(errno));
  // The kernel's own rules (underscores, Docker's generated names), not the hostname tool's.
  if (sethostname(args->hostname, strlen(args->hostname)) != 0) {
    fail("cannot set the hostname %s in the container's UTS namespace: %s", args->hostname, strerror(errno));
  }
}

static void on_stop_signal(int signal) {
  (void)signal; // the command decides; this process waits for it
}

static struct args parse_args(int argc, char **argv) {
  if (argc < 12 || strcmp(argv[10], "--") != 0 || !*argv[6] || !*argv[7]) {
    fail("usage: berth-init NETNS HOSTNAME TABLE EXITFILE STDIN STDOUT STDERR USER RO -- COMMAND [ARG...] (logs named)");
  }
  return (struct args){argv[1], argv[2], argv[3], argv[4], argv[5], argv[6], argv[7], argv[8], strcmp(argv[9], "ro") == 0, argv + 11};
}

/* A log file as the descriptor `target` (stdout or stderr), opened for appending, made if missing (mode 0600: the data root is root's). */
static void open_log(const char *path, int target) {
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0 || dup2(fd, target) < 0) fail("cannot open the container's log %s: %s", path, strerror(errno));
  close(fd);
}

/* Writes the command's exit code into the container's directory (reached through its descriptor: the table may cover it). */
static void record_exit(int container_dir, const char *exit_file, int code) {
  int fd = openat(container_dir, base_name(exit_file), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  dprintf(fd, "%d\n", code);
  close(fd);
}

int run_container(int argc, char **argv) {
  struct args args = parse_args(argc, argv);
  enter_template(&args);
  // The container's directory and logs, opened on the template's mounts before the
  // container's copy exists, and reached through descriptors from then on: the table may
  // cover them, and --read-only's remount fails (EBUSY) while a file is open for writing
  // on the mount it remounts, which theirs is not.
  int container_dir = open_parent(args.exit_file);
  open_log(args.stdout_log, STDOUT_FILENO);
  open_log(args.stderr_log, STDERR_FILENO);
  make_own_namespaces(&args);
  if (args.read_only) {
    if (mount("/", "/", NULL, MS_BIND | MS_REC, NULL) != 0 || mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) != 0) {
      fail("cannot make the root filesystem read-only: %s", strerror(errno));
    }
  }
  mount_table(args.table);
  uid_t uid = 0;
  gid_t gid = 0;
  if (*args.user) resolve_user(args.user, &uid, &gid);
  // Open before the report: the daemon hands the FIFO's writer to an attach only after it
  // (it holds the FIFO open read-write, so this does not wait).
  if (*args.stdin_fifo) {
    int fifo = openat(container_dir, base_name(args.stdin_fifo), O_RDONLY);
    if (fifo < 0 || dup2(fifo, STDIN_FILENO) < 0) fail("cannot open the container's stdin FIFO %s: %s", args.stdin_fifo, strerror(errno));
    close(fifo);
  }
  struct sigaction stop = {.sa_handler = on_stop_signal};
  sigemptyset(&stop.sa_mask);
  sigaction(SIGTERM, &stop, NULL);
  sigaction(SIGINT, &stop, NULL);
  sigaction(SIGHUP, &stop, NULL);
  // The report's reader may be gone (a daemon killed meanwhile): the container runs on regardless.
  char ready[32];
  int length = snprintf(ready, sizeof ready, "ready %d\n", (int)getpid());
  signal(SIGPIPE, SIG_IGN);
  if (write(REPORT_FD, ready, (size_t)length) < 0 && errno != EPIPE) fail("cannot report the set-up: %s", strerror(errno));
  signal(SIGPIPE, SIG_DFL);
  // Its end is the launcher's to report: a container that holds no report pipe lets the
  // daemon see the launcher's own end (kernel/launcher.ts).
  close(REPORT_FD);

  // vfork: the command's process shares this one's memory until its exec, so the kernel
  // copies no page tables for it (a fork here cost ~0.4 ms more per container on the VM
  // berth was measured on). Until the exec the child only makes system calls and writes
  // nothing of this process's memory but what it returns through `lost`.
  volatile int lost = 0;
  pid_t command = vfork();
  if (command < 0) {
    fprintf(stderr, "berth-init: cannot start the command: %s\n", strerror(errno));
    record_exit(container_dir, args.exit_file, SETUP_FAILED);
    return SETUP_FAILED;
  }
  if (command == 0) {
    close(container_dir);
    if (*args.user && (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0)) {
      lost = errno;
      _exit(126);
    }
    // Looked up in the container's PATH, as Docker does.
    execvp(args.command[0], args.command);
    lost = -errno;
    _exit(errno == ENOENT ? 127 : 126);
  }
  // Said here, by the parent, once the child is gone: stdio is not the vfork child's to use.
  if (lost > 0) fprintf(stderr, "berth-init: cannot run as %s: %s\n", args.user, strerror(lost));
  else if (lost < 0) fprintf(stderr, "berth-init: %s: %s\n", args.command[0], strerror(-lost));
  fflush(stderr);
  int status = 0;
  pid_t waited;
  do waited = waitpid(command, &status, 0);
  while (waited < 0 && errno == EINTR);
  int code = waited < 0 ? SETUP_FAILED : WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  record_exit(container_dir, args.exit_file, code);
  return code;
}
