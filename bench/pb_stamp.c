/*
 * The first step of bench/playbook.sh's playbook: a program that notes
 * CLOCK_REALTIME as the first thing main() does, so that the time from the
 * step's start in the run record to the program actually running (the
 * checkpoint before the step, then posix_spawn, exec and the dynamic linker)
 * can be told apart from the engine's part.
 *
 *	pb_stamp [FILE]
 *
 * Prints one line, "SECONDS.NANOSECONDS INCIDENT RUN" (from SONAE_INCIDENT
 * and SONAE_RUN), on stdout, where sonaed keeps it as the step's output, and
 * appends the same line to FILE in one write(2) when given, so that the
 * benchmark learns that the step ran without asking the daemon.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	struct timespec ts;
	const char *inc, *run;
	char line[128];
	int n, fd;

	clock_gettime(CLOCK_REALTIME, &ts);
	inc = getenv("SONAE_INCIDENT");
	run = getenv("SONAE_RUN");
	n = snprintf(line, sizeof(line), "%lld.%09ld %s %s\n", (long long)ts.tv_sec,
	    ts.tv_nsec, inc != NULL ? inc : "-", run != NULL ? run : "-");
	if (n < 0 || (size_t)n >= sizeof(line))
		return 1;
	if (write(STDOUT_FILENO, line, (size_t)n) != n)
		return 1;
	if (argc > 1) {
		if ((fd = open(argv[1], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
		         0644)) == -1 ||
		    write(fd, line, (size_t)n) != n)
			return 1;
		close(fd);
	}
	return 0;
}
