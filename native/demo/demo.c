// glassbox-demo: the PID 1 of glassbox's built-in demo image.
//
// It prints what a process can see from inside its container, using only what
// the kernel tells it (syscalls and /proc), so a student can set each line
// beside the host's view and see which namespace or cgroup made it differ.
//
// It is linked statically so that the image needs nothing else: no loader, no
// libc, no shell. One file is a whole root filesystem, and it runs on any
// Linux host of the same architecture with no registry reachable.
//
//   glassbox-demo            every section; a prompt too when stdin is a TTY
//   glassbox-demo ns net     only those sections
//   glassbox-demo -i [...]   the prompt even when stdin is a pipe
//
// Three sections act instead of looking, for the walkthroughs that show a
// limit or a layer at work; they run only when named:
//
//   glassbox-demo eat        eat memory until the cgroup's OOM killer ends it
//   glassbox-demo forks      fork until the cgroup's pids limit says EAGAIN
//   glassbox-demo cow        write, change and delete files of the image
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_LINE 8192

static int proc_mounted;

static void no_proc(void) { printf("  no /proc mounted\n"); }

// Read a small file whole (or its first size-1 bytes) into buf, without the
// trailing newline. Returns 0, or an errno value.
static int read_small(const char *path, char *buf, size_t size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  size_t got = 0;
  while (got < size - 1) {
    ssize_t n = read(fd, buf + got, size - 1 - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      close(fd);
      return err;
    }
    if (n == 0) break;
    got += (size_t)n;
  }
  if (close(fd) < 0) return errno;
  while (got > 0 && buf[got - 1] == '\n') got--;
  buf[got] = '\0';
  return 0;
}

// Read one line of f into buf. A line longer than buf is cut, the rest of it
// skipped, so one long line never counts as two. Returns 0 at end of file.
static int read_line(FILE *f, char *buf, size_t size, int *cut) {
  *cut = 0;
  if (!fgets(buf, (int)size, f)) return 0;
  size_t n = strlen(buf);
  if (n > 0 && buf[n - 1] == '\n') {
    buf[n - 1] = '\0';
    return 1;
  }
  int c;
  while ((c = getc(f)) != EOF && c != '\n') *cut = 1;
  return 1;
}

// Print each line of a file, indented; a file that cannot be read says why.
static void print_file_lines(const char *path, const char *indent) {
  FILE *f = fopen(path, "re");
  if (!f) {
    printf("%snot visible (%s: %s)\n", indent, path, strerror(errno));
    return;
  }
  char line[MAX_LINE];
  int cut;
  while (read_line(f, line, sizeof line, &cut)) printf("%s%s%s\n", indent, line, cut ? " ..." : "");
  if (ferror(f)) printf("%sread %s: %s\n", indent, path, strerror(errno));
  if (fclose(f) != 0) printf("%sclose %s: %s\n", indent, path, strerror(errno));
}

// Collapse runs of blanks to one space and drop leading ones, so uid_map's
// padded columns read as words.
static void squeeze(char *s) {
  char *out = s, *start = s;
  int blank = 0;
  for (; *s; s++) {
    if (*s == ' ' || *s == '\t') {
      blank = 1;
      continue;
    }
    if (blank && out != start) *out++ = ' ';
    blank = 0;
    *out++ = *s;
  }
  *out = '\0';
}

// ------------------------------------------------------------------ id

static void print_map(const char *label, const char *path) {
  if (!proc_mounted) {
    printf("  %-10s no /proc mounted\n", label);
    return;
  }
  FILE *f = fopen(path, "re");
  if (!f) {
    printf("  %-10s not visible (%s)\n", label, strerror(errno));
    return;
  }
  char line[256];
  int cut, any = 0;
  while (read_line(f, line, sizeof line, &cut)) {
    squeeze(line);
    printf("  %-10s %s   (inside outside count)\n", any ? "" : label, line);
    any = 1;
  }
  if (!any) printf("  %-10s (empty: no ids mapped yet)\n", label);
  if (fclose(f) != 0) printf("  close %s: %s\n", path, strerror(errno));
}

static void show_id(void) {
  pid_t pid = getpid(), ppid = getppid();
  printf("  %-10s %d%s\n", "pid", (int)pid, pid == 1 ? "   (the first process of its PID namespace: its init)" : "");
  printf("  %-10s %d%s\n", "ppid", (int)ppid, ppid == 0 ? "   (0: its parent is outside this PID namespace)" : "");
  printf("  %-10s %u   euid %u\n", "uid", (unsigned)getuid(), (unsigned)geteuid());
  printf("  %-10s %u   egid %u\n", "gid", (unsigned)getgid(), (unsigned)getegid());
  gid_t groups[64];
  int n = getgroups((int)(sizeof groups / sizeof groups[0]), groups);
  if (n < 0) {
    printf("  %-10s %s\n", "groups", errno == EINVAL ? "more than 64" : strerror(errno));
  } else {
    printf("  %-10s", "groups");
    if (n == 0) printf(" (none)");
    for (int i = 0; i < n; i++) printf(" %u", (unsigned)groups[i]);
    printf("\n");
  }
  print_map("uid_map", "/proc/self/uid_map");
  print_map("gid_map", "/proc/self/gid_map");
  if (!proc_mounted) {
    printf("  %-10s no /proc mounted\n", "CapEff");
    return;
  }
  FILE *f = fopen("/proc/self/status", "re");
  if (!f) {
    printf("  %-10s not visible (%s)\n", "CapEff", strerror(errno));
    return;
  }
  char line[256];
  int cut;
  const char *want[] = {"CapEff:", "NoNewPrivs:", "Seccomp:"};
  while (read_line(f, line, sizeof line, &cut)) {
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
      size_t len = strlen(want[i]);
      if (strncmp(line, want[i], len) != 0) continue;
      const char *v = line + len;
      while (*v == ' ' || *v == '\t') v++;
      printf("  %-10.*s %s\n", (int)(len - 1), want[i], v);
    }
  }
  if (fclose(f) != 0) printf("  close /proc/self/status: %s\n", strerror(errno));
}

// ------------------------------------------------------------------ hostname

static void show_hostname(void) {
  struct utsname u;
  if (uname(&u) < 0) {
    printf("  uname: %s\n", strerror(errno));
    return;
  }
  printf("  %-10s %s\n", "hostname", u.nodename);
  printf("  %-10s %s\n", "domain", u.domainname);
  printf("  %-10s %s %s %s\n", "kernel", u.sysname, u.release, u.machine);
}

// ------------------------------------------------------------------ ns

static const char *const namespaces[] = {
    "cgroup", "ipc", "mnt", "net", "pid", "pid_for_children", "time", "time_for_children", "user", "uts",
};

static void show_ns(void) {
  if (!proc_mounted) {
    no_proc();
    return;
  }
  for (size_t i = 0; i < sizeof namespaces / sizeof namespaces[0]; i++) {
    char path[64], target[128];
    snprintf(path, sizeof path, "/proc/self/ns/%s", namespaces[i]);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n < 0) {
      printf("  %s -> not available (%s)\n", namespaces[i], strerror(errno));
      continue;
    }
    target[n] = '\0';
    printf("  %s -> %s\n", namespaces[i], target);
  }
}

// ------------------------------------------------------------------ mounts

// mountinfo fields (proc(5)): id parent major:minor root mountpoint options
// [optional...] - fstype source superoptions
//
// The line of the mount on / that this process sees, into root (empty if
// none); returns how many mounts are visible, or -1 if mountinfo cannot be read.
static int root_mount(char *root, size_t size, int *root_cut) {
  FILE *f = fopen("/proc/self/mountinfo", "re");
  if (!f) {
    printf("  not visible (/proc/self/mountinfo: %s)\n", strerror(errno));
    return -1;
  }
  static char line[MAX_LINE];
  int cut, count = 0;
  root[0] = '\0';
  *root_cut = 0;
  while (read_line(f, line, sizeof line, &cut)) {
    count++;
    // The last mount on / is the one on top, the one this process sees.
    char *sp = line;
    for (int i = 0; i < 4 && sp; i++) sp = strchr(sp + 1, ' ');
    if (sp && strncmp(sp, " / ", 3) == 0) {
      snprintf(root, size, "%s", line);
      *root_cut = cut;
    }
  }
  if (ferror(f)) printf("  read /proc/self/mountinfo: %s\n", strerror(errno));
  if (fclose(f) != 0) printf("  close /proc/self/mountinfo: %s\n", strerror(errno));
  return count;
}

// Split a mountinfo line (a copy: it is cut up) into its mount options,
// filesystem type, source and superblock options.
static void mount_fields(char *head, char *tail, char **options, char **fstype, char **source, char **super) {
  char *save = NULL, *tok = strtok_r(head, " ", &save);
  for (int i = 1; tok && i <= 5; i++) tok = strtok_r(NULL, " ", &save);
  *options = tok;
  *fstype = *source = *super = NULL;
  char *dash = strstr(tail, " - ");
  if (dash) {
    *fstype = strtok_r(dash + 3, " ", &save);
    *source = *fstype ? strtok_r(NULL, " ", &save) : NULL;
    *super = *source ? strtok_r(NULL, " ", &save) : NULL;
  }
}

static void show_mounts(void) {
  if (!proc_mounted) {
    no_proc();
    return;
  }
  static char root[MAX_LINE];
  int root_cut;
  int count = root_mount(root, sizeof root, &root_cut);
  if (count < 0) return;
  if (root[0] == '\0') {
    printf("  %-10s no mount on / in /proc/self/mountinfo\n", "root");
  } else {
    printf("  %-10s %s%s\n", "line", root, root_cut ? " ..." : "");
    static char head[MAX_LINE], tail[MAX_LINE];
    memcpy(head, root, sizeof head);
    memcpy(tail, root, sizeof tail);
    char *options, *fstype, *source, *super;
    mount_fields(head, tail, &options, &fstype, &source, &super);
    printf("  %-10s %s on / from %s\n", "root", fstype ? fstype : "?", source ? source : "?");
    printf("  %-10s %s\n", "mount", options ? options : "?");
    printf("  %-10s %s%s\n", "super", super ? super : "?", root_cut ? " ..." : "");
  }
  printf("  %-10s %d visible in /proc/self/mountinfo\n", "mounts", count);
}

// ------------------------------------------------------------------ cgroup

static int is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

// base + cgroup path, without a doubled slash when the path is "/".
static void cg_join(char *out, size_t size, const char *base, const char *path) {
  if (strcmp(path, "/") == 0) path = "";
  snprintf(out, size, "%s%s", base, path);
}

static void human_bytes(unsigned long long v, char *out, size_t size) {
  static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double d = (double)v;
  size_t u = 0;
  while (d >= 1024 && u + 1 < sizeof units / sizeof units[0]) {
    d /= 1024;
    u++;
  }
  snprintf(out, size, "%.1f %s", d, units[u]);
}

// What a limit's value means, for the values that need saying.
static void explain(const char *file, const char *value, char *out, size_t size) {
  out[0] = '\0';
  if (strcmp(value, "max") == 0) {
    snprintf(out, size, "   (no limit)");
  } else if (strcmp(file, "cpu.max") == 0) {
    long long quota, period;
    if (strncmp(value, "max ", 4) == 0) snprintf(out, size, "   (no quota)");
    else if (sscanf(value, "%lld %lld", &quota, &period) == 2 && period > 0)
      snprintf(out, size, "   (%.2f CPUs)", (double)quota / (double)period);
  } else if (strcmp(file, "cpu.cfs_quota_us") == 0) {
    if (strcmp(value, "-1") == 0) snprintf(out, size, "   (no quota)");
  } else if (strncmp(file, "memory.", 7) == 0 && isdigit((unsigned char)value[0])) {
    unsigned long long v = strtoull(value, NULL, 10);
    // v1's "unlimited" is the largest page-aligned counter, near 2^63.
    if (v >= (1ULL << 62)) {
      snprintf(out, size, "   (no limit)");
    } else {
      char h[32];
      human_bytes(v, h, sizeof h);
      snprintf(out, size, "   (%s)", h);
    }
  }
}

// Print one limit file; returns its value through val when it was read.
static int show_limit(const char *dir, const char *file, char *val, size_t size) {
  char path[PATH_MAX + 64];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  int err = read_small(path, val, size);
  if (err) {
    printf("    %-22s not visible (%s: %s)\n", file, path, strerror(err));
    return 0;
  }
  char why[64];
  explain(file, val, why, sizeof why);
  printf("    %-22s %s%s   [%s]\n", file, val, why, path);
  return 1;
}

static void limits_v2(const char *path) {
  // On a pure v2 host the unified hierarchy is /sys/fs/cgroup itself; on a
  // hybrid one (v1 controllers beside it) it is mounted at .../unified.
  const char *base = is_file("/sys/fs/cgroup/cgroup.controllers")           ? "/sys/fs/cgroup"
                     : is_file("/sys/fs/cgroup/unified/cgroup.controllers") ? "/sys/fs/cgroup/unified"
                                                                            : "/sys/fs/cgroup";
  char dir[PATH_MAX];
  cg_join(dir, sizeof dir, base, path);
  printf("  v2 (unified) cgroup %s\n", path);
  char val[128];
  show_limit(dir, "memory.max", val, sizeof val);
  show_limit(dir, "cpu.max", val, sizeof val);
  show_limit(dir, "pids.max", val, sizeof val);
}

static void limits_v1(const char *controllers, const char *path) {
  char list[256];
  snprintf(list, sizeof list, "%s", controllers);
  char *save = NULL;
  for (char *c = strtok_r(list, ",", &save); c; c = strtok_r(NULL, ",", &save)) {
    if (strcmp(c, "memory") != 0 && strcmp(c, "cpu") != 0 && strcmp(c, "pids") != 0) continue;
    // A hierarchy of several controllers is mounted under their joined
    // name (cpu,cpuacct); distributions add a link per controller.
    char base[PATH_MAX], dir[PATH_MAX];
    snprintf(base, sizeof base, "/sys/fs/cgroup/%s", controllers);
    if (!is_dir(base)) snprintf(base, sizeof base, "/sys/fs/cgroup/%s", c);
    cg_join(dir, sizeof dir, base, path);
    printf("  v1 %s cgroup %s\n", c, path);
    char val[128];
    if (strcmp(c, "memory") == 0) {
      show_limit(dir, "memory.limit_in_bytes", val, sizeof val);
    } else if (strcmp(c, "pids") == 0) {
      show_limit(dir, "pids.max", val, sizeof val);
    } else {
      char period[128];
      int q = show_limit(dir, "cpu.cfs_quota_us", val, sizeof val);
      int p = show_limit(dir, "cpu.cfs_period_us", period, sizeof period);
      long long quota = q ? strtoll(val, NULL, 10) : -1, per = p ? strtoll(period, NULL, 10) : 0;
      if (quota > 0 && per > 0) printf("    %-22s %.2f CPUs   (quota / period)\n", "= cpu limit", (double)quota / (double)per);
    }
  }
}

static void show_cgroup(void) {
  if (!proc_mounted) {
    no_proc();
    return;
  }
  printf("  /proc/self/cgroup   (hierarchy:controllers:path)\n");
  print_file_lines("/proc/self/cgroup", "    ");
  FILE *f = fopen("/proc/self/cgroup", "re");
  if (!f) return;
  printf("  limits of its own cgroup\n");
  char line[1024];
  int cut;
  while (read_line(f, line, sizeof line, &cut)) {
    char *c1 = strchr(line, ':');
    char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c2) continue;
    *c2 = '\0';
    const char *controllers = c1 + 1, *path = c2 + 1;
    if (*controllers == '\0') limits_v2(path);
    else limits_v1(controllers, path);
  }
  if (fclose(f) != 0) printf("  close /proc/self/cgroup: %s\n", strerror(errno));
}

// ------------------------------------------------------------------ ps

static int all_digits(const char *s) {
  if (!*s) return 0;
  for (; *s; s++)
    if (!isdigit((unsigned char)*s)) return 0;
  return 1;
}

static void show_ps(void) {
  if (!proc_mounted) {
    no_proc();
    return;
  }
  DIR *d = opendir("/proc");
  if (!d) {
    printf("  opendir /proc: %s\n", strerror(errno));
    return;
  }
  printf("  %-7s %-7s %s\n", "PID", "PPID", "COMM");
  int count = 0, self = (int)getpid();
  struct dirent *e;
  for (;;) {
    errno = 0;
    e = readdir(d);
    if (!e) break;
    if (!all_digits(e->d_name)) continue;
    // /proc/PID/stat is "pid (comm) state ppid ..."; comm may hold spaces
    // and parentheses, so it ends at the last ')'.
    char path[64], stat[1024];
    if (snprintf(path, sizeof path, "/proc/%s/stat", e->d_name) >= (int)sizeof path) continue;
    if (read_small(path, stat, sizeof stat) != 0) continue;  // it exited meanwhile
    char *open_paren = strchr(stat, '('), *close_paren = strrchr(stat, ')');
    if (!open_paren || !close_paren || close_paren < open_paren) continue;
    *close_paren = '\0';
    char state = '?';
    int ppid = 0;
    if (sscanf(close_paren + 1, " %c %d", &state, &ppid) != 2) continue;
    int pid = atoi(e->d_name);
    printf("  %-7d %-7d %s%s\n", pid, ppid, open_paren + 1, pid == self ? "   <- this process" : "");
    count++;
  }
  if (errno != 0) printf("  readdir /proc: %s\n", strerror(errno));
  if (closedir(d) < 0) printf("  closedir /proc: %s\n", strerror(errno));
  printf("  %d process%s visible\n", count, count == 1 ? "" : "es");
}

// ------------------------------------------------------------------ net

// Whether an interface is up and its IPv4 address: /proc/net/dev has only
// counters. A datagram socket is the handle the interface ioctls need.
static void iface_state(int sock, const char *name, char *out, size_t size) {
  if (sock < 0) {
    snprintf(out, size, "state unknown");
    return;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name) >= (int)sizeof ifr.ifr_name) {
    snprintf(out, size, "state unknown (name too long)");
    return;
  }
  if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0) {
    snprintf(out, size, "state unknown (%s)", strerror(errno));
    return;
  }
  const char *state = (ifr.ifr_flags & IFF_UP) ? "UP" : "DOWN";
  char addr[INET_ADDRSTRLEN] = "no IPv4 address";
  memset(&ifr.ifr_addr, 0, sizeof ifr.ifr_addr);
  if (ioctl(sock, SIOCGIFADDR, &ifr) == 0) {
    struct sockaddr_in sin;
    memcpy(&sin, &ifr.ifr_addr, sizeof sin);
    if (!inet_ntop(AF_INET, &sin.sin_addr, addr, sizeof addr)) snprintf(addr, sizeof addr, "?");
  }
  snprintf(out, size, "%-4s %s", state, addr);
}

static void show_net(void) {
  if (!proc_mounted) {
    no_proc();
    return;
  }
  FILE *f = fopen("/proc/net/dev", "re");
  if (!f) {
    printf("  not visible (/proc/net/dev: %s)\n", strerror(errno));
    return;
  }
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) printf("  socket: %s (interface state unknown)\n", strerror(errno));
  char line[512];
  int cut, count = 0, lineno = 0;
  while (read_line(f, line, sizeof line, &cut)) {
    if (++lineno <= 2) continue;  // two header lines
    char *colon = strchr(line, ':');
    if (!colon) continue;
    *colon = '\0';
    char *name = line;
    while (*name == ' ') name++;
    unsigned long long rxb, rxp, txb, txp;
    if (sscanf(colon + 1, "%llu %llu %*u %*u %*u %*u %*u %*u %llu %llu", &rxb, &rxp, &txb, &txp) != 4) continue;
    char state[80];
    iface_state(sock, name, state, sizeof state);
    printf("  %-12s %-22s rx %llu bytes %llu packets, tx %llu bytes %llu packets\n", name, state, rxb, rxp, txb, txp);
    count++;
  }
  if (ferror(f)) printf("  read /proc/net/dev: %s\n", strerror(errno));
  if (fclose(f) != 0) printf("  close /proc/net/dev: %s\n", strerror(errno));
  if (sock >= 0 && close(sock) < 0) printf("  close socket: %s\n", strerror(errno));
  printf("  %d interface%s in this network namespace\n", count, count == 1 ? "" : "s");
}

// ------------------------------------------------------------------ its own cgroup's files

static int flush_stdout(void);

static int has_controller(const char *list, const char *controller) {
  char copy[256];
  snprintf(copy, sizeof copy, "%s", list);
  char *save = NULL;
  for (char *c = strtok_r(copy, ",", &save); c; c = strtok_r(NULL, ",", &save))
    if (strcmp(c, controller) == 0) return 1;
  return 0;
}

// The path of a file of its own cgroup, into out: in the v1 hierarchy of
// `controller` if there is one (on a hybrid host the v2 tree has none of
// these files), else in the v2 tree. Returns 1 if that file exists.
static int own_cgroup_file(const char *controller, const char *v1file, const char *v2file, char *out, size_t size) {
  FILE *f = fopen("/proc/self/cgroup", "re");
  if (!f) return 0;
  char line[1024], v2path[1024] = "";
  int cut, found = 0, have_v2 = 0;
  while (!found && read_line(f, line, sizeof line, &cut)) {
    char *c1 = strchr(line, ':');
    char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c2) continue;
    *c2 = '\0';
    const char *controllers = c1 + 1, *path = c2 + 1;
    if (*controllers == '\0') {
      snprintf(v2path, sizeof v2path, "%s", path);
      have_v2 = 1;
      continue;
    }
    if (!has_controller(controllers, controller)) continue;
    char base[PATH_MAX], dir[PATH_MAX];
    snprintf(base, sizeof base, "/sys/fs/cgroup/%s", controllers);
    if (!is_dir(base)) snprintf(base, sizeof base, "/sys/fs/cgroup/%s", controller);
    cg_join(dir, sizeof dir, base, path);
    snprintf(out, size, "%s/%s", dir, v1file);
    found = is_file(out);
  }
  if (fclose(f) != 0) printf("  close /proc/self/cgroup: %s\n", strerror(errno));
  if (!found && have_v2) {
    const char *base = is_file("/sys/fs/cgroup/cgroup.controllers")           ? "/sys/fs/cgroup"
                       : is_file("/sys/fs/cgroup/unified/cgroup.controllers") ? "/sys/fs/cgroup/unified"
                                                                              : "/sys/fs/cgroup";
    char dir[PATH_MAX];
    cg_join(dir, sizeof dir, base, v2path);
    snprintf(out, size, "%s/%s", dir, v2file);
    found = is_file(out);
  }
  return found;
}

static const char *errno_name(int err) {
  const char *n = strerrorname_np(err);
  return n ? n : "?";
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
  }
}

// ------------------------------------------------------------------ eat

#define EAT_STEP (4ULL << 20)
#define EAT_PAUSE_MS 200
// With no memory limit the only limit is the host's: stop well before it,
// rather than hand the whole machine to the host's own OOM killer.
#define EAT_UNLIMITED_STOP (1024ULL << 20)

static void show_eat(void) {
  char limit_path[PATH_MAX + 64], usage_path[PATH_MAX + 64], val[128];
  int limited = 0;
  if (!proc_mounted) printf("  no /proc mounted: its cgroup is unknown\n");
  if (proc_mounted && own_cgroup_file("memory", "memory.limit_in_bytes", "memory.max", limit_path, sizeof limit_path) &&
      read_small(limit_path, val, sizeof val) == 0) {
    char why[64];
    explain(strrchr(limit_path, '/') + 1, val, why, sizeof why);
    printf("  %-10s %s%s   [%s]\n", "limit", val, why, limit_path);
    limited = isdigit((unsigned char)val[0]) && strtoull(val, NULL, 10) < (1ULL << 62);
  } else {
    printf("  %-10s not visible: no memory controller file of its cgroup\n", "limit");
  }
  int have_usage = proc_mounted && own_cgroup_file("memory", "memory.usage_in_bytes", "memory.current", usage_path, sizeof usage_path);
  if (have_usage) printf("  %-10s read from %s\n", "usage", usage_path);
  if (!limited) printf("  no memory limit: it stops by itself at %llu MiB (with --memory the kernel stops it)\n", EAT_UNLIMITED_STOP >> 20);
  unsigned long long total = 0;
  for (;;) {
    if (flush_stdout() < 0) return;
    if (!limited && total >= EAT_UNLIMITED_STOP) {
      printf("  stopped at %llu MiB: no limit met\n", total >> 20);
      return;
    }
    char *p = mmap(NULL, EAT_STEP, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      printf("  mmap %llu bytes: %s\n", EAT_STEP, strerror(errno));
      return;
    }
    // mmap only reserves addresses: memory is charged to the cgroup page by
    // page as it is first touched, so write to every page.
    memset(p, 0x5a, EAT_STEP);
    total += EAT_STEP;
    char used[64] = "";
    if (have_usage && read_small(usage_path, val, sizeof val) == 0 && isdigit((unsigned char)val[0])) {
      char h[32];
      human_bytes(strtoull(val, NULL, 10), h, sizeof h);
      snprintf(used, sizeof used, "   its cgroup uses %s", h);
    }
    printf("  %-10s %4llu MiB%s\n", "ate", total >> 20, used);
    sleep_ms(EAT_PAUSE_MS);
  }
}

// ------------------------------------------------------------------ forks

// With no pids limit, stop here: enough to show fork never failed.
#define FORKS_MAX 1000

static void show_pids(const char *label, const char *path, const char *what) {
  char val[64];
  int err = read_small(path, val, sizeof val);
  if (err) printf("  %-10s not visible (%s: %s)\n", label, path, strerror(err));
  else printf("  %-10s %s   (%s)   [%s]\n", label, val, what, path);
}

static void show_forks(void) {
  char max_path[PATH_MAX + 64], cur_path[PATH_MAX + 64];
  int have_max = proc_mounted && own_cgroup_file("pids", "pids.max", "pids.max", max_path, sizeof max_path);
  int have_cur = proc_mounted && own_cgroup_file("pids", "pids.current", "pids.current", cur_path, sizeof cur_path);
  if (have_max) show_pids("limit", max_path, "most tasks its cgroup may hold; max is no limit");
  else printf("  %-10s not visible: no pids controller file of its cgroup\n", "limit");
  if (have_cur) show_pids("in use", cur_path, "tasks in its cgroup before it forks");
  // Children get a copy of unwritten output; write it first so it is printed once.
  if (flush_stdout() < 0) return;
  static pid_t kids[FORKS_MAX];
  int n = 0, err = 0;
  while (n < FORKS_MAX) {
    pid_t p = fork();
    if (p < 0) {
      err = errno;
      break;
    }
    if (p == 0)
      for (;;) pause();
    kids[n++] = p;
  }
  if (err) printf("  %-10s %d children, then fork failed: %s (%s)\n", "forked", n, errno_name(err), strerror(err));
  else printf("  %-10s %d children, and stopped there: fork never failed (no pids limit?)\n", "forked", n);
  if (have_cur) show_pids("in use", cur_path, "tasks in its cgroup now");
  for (int i = 0; i < n; i++)
    if (kill(kids[i], SIGKILL) < 0) printf("  kill %d: %s\n", (int)kids[i], strerror(errno));
  int reaped = 0;
  for (int i = 0; i < n; i++) {
    pid_t w;
    while ((w = waitpid(kids[i], NULL, 0)) < 0 && errno == EINTR) {
    }
    if (w == kids[i]) reaped++;
    else printf("  waitpid %d: %s\n", (int)kids[i], strerror(errno));
  }
  printf("  %-10s %d children killed with SIGKILL and reaped\n", "cleaned", reaped);
}

// ------------------------------------------------------------------ cow

static void cow_stat(const char *label, const char *path) {
  struct stat st;
  if (lstat(path, &st) < 0) {
    printf("  %-10s %-12s %s\n", label, path, strerror(errno));
    return;
  }
  printf("  %-10s %-12s dev %u:%u  inode %llu  %lld bytes\n", label, path, major(st.st_dev), minor(st.st_dev), (unsigned long long)st.st_ino, (long long)st.st_size);
}

static void cow_write(const char *label, const char *path, int flags, const char *text) {
  int fd = open(path, flags | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) {
    printf("  %-10s open %s: %s\n", label, path, strerror(errno));
    return;
  }
  size_t len = strlen(text);
  ssize_t n = write(fd, text, len);
  if (n < 0) printf("  %-10s write %s: %s\n", label, path, strerror(errno));
  else if ((size_t)n != len) printf("  %-10s write %s: %zd of %zu bytes\n", label, path, n, len);
  if (close(fd) < 0) printf("  %-10s close %s: %s\n", label, path, strerror(errno));
}

// The overlay's directories, from the superblock options of the mount on /:
// host paths, which this process cannot open (they are outside its root).
// Returns 1 when / is an overlay, with its upper directory in upper.
static int show_overlay(char *upper, size_t size) {
  upper[0] = '\0';
  if (!proc_mounted) {
    no_proc();
    return 0;
  }
  static char root[MAX_LINE], head[MAX_LINE], tail[MAX_LINE];
  int cut;
  if (root_mount(root, sizeof root, &cut) < 0) return 0;
  memcpy(head, root, sizeof head);
  memcpy(tail, root, sizeof tail);
  char *options, *fstype, *source, *super;
  mount_fields(head, tail, &options, &fstype, &source, &super);
  if (!fstype || strcmp(fstype, "overlay") != 0 || !super) {
    printf("  %-10s %s, not an overlay: no copy-on-write to show\n", "root", fstype ? fstype : "unknown");
    return 0;
  }
  printf("  %-10s overlay; its directories, as host paths (from /proc/self/mountinfo)\n", "root");
  char *save = NULL;
  for (char *opt = strtok_r(super, ",", &save); opt; opt = strtok_r(NULL, ",", &save)) {
    if (strncmp(opt, "lowerdir=", 9) == 0) {
      // Top layer first, base layer last.
      char *lsave = NULL;
      for (char *l = strtok_r(opt + 9, ":", &lsave); l; l = strtok_r(NULL, ":", &lsave)) printf("  %-10s %s   (an image layer: read-only)\n", "lower", l);
    } else if (strncmp(opt, "upperdir=", 9) == 0) {
      printf("  %-10s %s   (this container's own: every change lands here)\n", "upper", opt + 9);
      snprintf(upper, size, "%s", opt + 9);
    } else if (strncmp(opt, "workdir=", 8) == 0) {
      printf("  %-10s %s   (overlayfs's scratch space)\n", "work", opt + 8);
    }
  }
  if (cut) printf("  (the mountinfo line was too long to read whole)\n");
  return 1;
}

static void show_cow(void) {
  char upper[MAX_LINE];
  // Outside a container this would remove the host's own /etc/passwd.
  if (!show_overlay(upper, sizeof upper)) {
    printf("  it changes nothing unless / is an overlay, as in a container\n");
    return;
  }
  printf("  before\n");
  cow_stat("new", "/cow.txt");
  cow_stat("change", "/etc/group");
  cow_stat("delete", "/etc/passwd");
  printf("  /etc/group holds:\n");
  print_file_lines("/etc/group", "    ");
  cow_write("new", "/cow.txt", O_CREAT | O_EXCL, "written by glassbox-demo inside its container\n");
  cow_write("change", "/etc/group", O_APPEND, "cow:x:4242:\n");
  if (unlink("/etc/passwd") < 0) printf("  %-10s unlink /etc/passwd: %s\n", "delete", strerror(errno));
  printf("  after: created /cow.txt, appended a line to /etc/group, removed /etc/passwd\n");
  cow_stat("new", "/cow.txt");
  cow_stat("change", "/etc/group");
  cow_stat("delete", "/etc/passwd");
  printf("  /etc/group holds:\n");
  print_file_lines("/etc/group", "    ");
  if (upper[0]) {
    printf("  on the host, %s now holds cow.txt, etc/group (the copy, changed)\n", upper);
    printf("  and etc/passwd, a whiteout (a 0/0 character device); the layer is unchanged\n");
  }
}

// ------------------------------------------------------------------ sections

struct section {
  const char *name;
  const char *title;
  void (*show)(void);
  // Acts instead of only looking (eats memory, forks, writes files): run only
  // when named, never as part of every section.
  int action;
};

static const struct section sections[] = {
    {"id", "who it is: ids, user namespace maps, capabilities", show_id, 0},
    {"hostname", "hostname and kernel (UTS namespace)", show_hostname, 0},
    {"ns", "namespaces (the same inode means the same namespace)", show_ns, 0},
    {"mounts", "its root filesystem (mount namespace)", show_mounts, 0},
    {"cgroup", "control groups and the limits it can read", show_cgroup, 0},
    {"ps", "processes it can see in /proc (PID namespace)", show_ps, 0},
    {"net", "network interfaces (network namespace)", show_net, 0},
    {"eat", "eat memory 4 MiB at a time until the kernel stops it (cgroup memory limit)", show_eat, 1},
    {"forks", "fork waiting children until fork fails (cgroup pids limit)", show_forks, 1},
    {"cow", "write, change and delete image files (overlayfs copy-on-write)", show_cow, 1},
};
#define NSECTIONS (sizeof sections / sizeof sections[0])

static const struct section *find_section(const char *name) {
  for (size_t i = 0; i < NSECTIONS; i++)
    if (strcmp(sections[i].name, name) == 0) return &sections[i];
  return NULL;
}

static void show(const struct section *s) {
  printf("[%s] %s\n", s->name, s->title);
  s->show();
  printf("\n");
}

static void show_all(void) {
  for (size_t i = 0; i < NSECTIONS; i++)
    if (!sections[i].action) show(&sections[i]);
}

static void help(void) {
  printf("commands:\n");
  for (size_t i = 0; i < NSECTIONS; i++) printf("  %-10s %s\n", sections[i].name, sections[i].title);
  printf("  %-10s every section that only looks (not eat, forks, cow)\n", "all");
  printf("  %-10s this list\n", "help");
  printf("  %-10s leave (so does Ctrl-D)\n", "exit");
}

static int flush_stdout(void) {
  if (fflush(stdout) != 0 || ferror(stdout)) {
    fprintf(stderr, "glassbox-demo: write to stdout: %s\n", strerror(errno));
    return -1;
  }
  return 0;
}

static int interactive(void) {
  int echo = !isatty(STDIN_FILENO);  // on a pipe nothing echoes the command; a transcript should show it
  printf("type help for commands; exit or Ctrl-D leaves\n");
  for (;;) {
    printf("demo> ");
    if (flush_stdout() < 0) return 1;
    char line[256];
    int cut;
    if (!read_line(stdin, line, sizeof line, &cut)) {
      if (ferror(stdin)) {
        fprintf(stderr, "glassbox-demo: read stdin: %s\n", strerror(errno));
        return 1;
      }
      printf("\n");
      return flush_stdout() < 0 ? 1 : 0;
    }
    char *cmd = line;
    while (isspace((unsigned char)*cmd)) cmd++;
    char *end = cmd + strlen(cmd);
    while (end > cmd && isspace((unsigned char)end[-1])) *--end = '\0';
    if (echo) printf("%s\n", cmd);
    if (*cmd == '\0') continue;
    const struct section *s = find_section(cmd);
    if (cut) printf("line too long\n");
    else if (s) show(s);
    else if (strcmp(cmd, "all") == 0) show_all();
    else if (strcmp(cmd, "help") == 0) help();
    else if (strcmp(cmd, "exit") == 0 || strcmp(cmd, "quit") == 0) return flush_stdout() < 0 ? 1 : 0;
    else printf("unknown command: %s (try help)\n", cmd);
  }
}

static void usage(FILE *to) {
  fprintf(to, "usage: glassbox-demo [-i] [SECTION...]\n  -i  a prompt after printing, even when stdin is not a terminal\n  sections:");
  for (size_t i = 0; i < NSECTIONS; i++)
    if (!sections[i].action) fprintf(to, " %s", sections[i].name);
  fprintf(to, "\n  actions, run only when named:\n");
  for (size_t i = 0; i < NSECTIONS; i++)
    if (sections[i].action) fprintf(to, "    %-6s %s\n", sections[i].name, sections[i].title);
}

static void on_signal(int sig) { _exit(128 + sig); }

int main(int argc, char **argv) {
  // The kernel drops signals to a namespace's init that it has no handler
  // for, so as PID 1 without these, `glassbox stop` and Ctrl-C would not end it.
  if (getpid() == 1) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    if (sigemptyset(&sa.sa_mask) < 0) perror("glassbox-demo: sigemptyset");
    const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
      if (sigaction(sigs[i], &sa, NULL) < 0) fprintf(stderr, "glassbox-demo: sigaction %d: %s\n", sigs[i], strerror(errno));
  }

  int prompt = 0;
  const struct section *only[NSECTIONS];
  size_t nonly = 0;
  for (int i = 1; i < argc; i++) {
    const struct section *s = find_section(argv[i]);
    if (strcmp(argv[i], "-i") == 0) {
      prompt = 1;
    } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      return flush_stdout() < 0 ? 1 : 0;
    } else if (s && nonly < NSECTIONS) {
      only[nonly++] = s;
    } else {
      fprintf(stderr, "glassbox-demo: unknown argument: %s\n", argv[i]);
      usage(stderr);
      return 2;
    }
  }
  if (!prompt && nonly == 0 && isatty(STDIN_FILENO)) prompt = 1;

  struct stat st;
  proc_mounted = stat("/proc/self/stat", &st) == 0;

  if (nonly == 0) {
    printf("glassbox-demo: what a process sees from inside its container\n\n");
    if (!proc_mounted) printf("no /proc mounted: only what syscalls tell follows\n\n");
    show_all();
  } else {
    for (size_t i = 0; i < nonly; i++) show(only[i]);
  }
  if (flush_stdout() < 0) return 1;
  return prompt ? interactive() : 0;
}
