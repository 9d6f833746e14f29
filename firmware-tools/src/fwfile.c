/* fwfile.c - see fwfile.h. */
#include "fwfile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int fw_spawn(char *const argv[], char *out, size_t cap, int quiet)
{
    int pfd[2] = {-1, -1};
    if (out && pipe(pfd))
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (out) {
        posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
        posix_spawn_file_actions_addclose(&fa, pfd[0]);
    } else if (quiet) {
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    } else {
        posix_spawn_file_actions_adddup2(&fa, 2, 1);
    }
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (out) {
        close(pfd[1]);
        size_t n = 0;
        char sink[512];
        /* Read to the end even past cap (into sink), so a talkative child
         * never blocks on a full pipe while we wait for it. */
        for (ssize_t r; !rc;) {
            int room = n + 1 < cap;
            r = room ? read(pfd[0], out + n, cap - 1 - n) : read(pfd[0], sink, sizeof sink);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            if (room)
                n += (size_t)r;
        }
        if (cap)
            out[n] = '\0';
        close(pfd[0]);
    }
    if (rc)
        return -1;
    int st = 0;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
