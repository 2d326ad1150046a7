/*
 * pause: the process that holds a Pod's namespaces open (the sandbox container).
 *
 * Runs as PID 1 of the sandbox, sleeps, reaps any child that exits (orphans
 * re-parented to it when a Pod shares its PID namespace), and exits 0 on SIGINT
 * or SIGTERM. Built static, so the image needs nothing else:
 *
 *   gcc -static -O2 -s -o pause pause.c
 *
 * "pause -v" prints the version and exits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAUSE_VERSION "coderun-pause 3.10"

static void on_stop(int sig) {
  (void)sig;
  _exit(0);
}

static void on_child(int sig) {
  int saved = errno;
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
  errno = saved;
}

static int handle(int sig, void (*fn)(int), int flags) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = fn;
  sa.sa_flags = flags;
  sigemptyset(&sa.sa_mask);
  return sigaction(sig, &sa, NULL);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "-v") == 0) {
    puts(PAUSE_VERSION);
    return 0;
  }
  if (getpid() != 1) {
    /* Still works (it is only an idle process), but nothing gets re-parented here. */
    fputs("pause: warning: not running as PID 1\n", stderr);
  }
  if (handle(SIGINT, on_stop, 0) != 0 || handle(SIGTERM, on_stop, 0) != 0 ||
      handle(SIGCHLD, on_child, SA_NOCLDSTOP | SA_RESTART) != 0) {
    perror("pause: sigaction");
    return 1;
  }
  for (;;) {
    pause();
  }
  return 42; /* not reached */
}
