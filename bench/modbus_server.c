/*
 * A Modbus TCP server for bench/modbus.sh: libmodbus on N ephemeral ports of
 * 127.0.0.1 (one "device" per port), any number of clients, served in one
 * thread with poll(2).  Every device answers the same 64 holding and input
 * registers and 64 coils and discrete inputs; unit ids are not checked.
 *
 *	modbus_server N
 *
 * Prints "ports P1 P2 ..." once it listens.  On SIGUSR1 it prints
 * "served COUNT" (requests answered so far, exceptions included).  SIGTERM
 * ends it.  Built by bench/modbus.sh:
 *	cc -O2 -o modbus_server modbus_server.c $(pkg-config --cflags --libs libmodbus)
 */
#include <sys/socket.h>

#include <netinet/in.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <modbus/modbus.h>

static volatile sig_atomic_t report, quit;

static void
on_signal(int sig)
{
	if (sig == SIGUSR1)
		report = 1;
	else
		quit = 1;
}

int
main(int argc, char **argv)
{
	uint8_t q[MODBUS_TCP_MAX_ADU_LENGTH];
	struct sigaction sa;
	struct pollfd *pfd;
	modbus_mapping_t *map;
	modbus_t *ctx;
	unsigned long served = 0;
	int n, nfd, i, rc, cap;

	if (argc != 2 || (n = atoi(argv[1])) < 1) {
		fprintf(stderr, "usage: modbus_server N\n");
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	map = modbus_mapping_new(64, 64, 64, 64);
	for (i = 0; i < 64; i++) {
		map->tab_registers[i] = (uint16_t)(200 + i);
		map->tab_input_registers[i] = (uint16_t)(300 + i);
	}
	cap = 8 * n + 16;
	pfd = calloc((size_t)cap, sizeof(*pfd));
	printf("ports");
	for (i = 0; i < n; i++) {
		struct sockaddr_in a;
		socklen_t len = sizeof(a);
		ctx = modbus_new_tcp("127.0.0.1", 0);
		pfd[i].fd = modbus_tcp_listen(ctx, 64);
		modbus_free(ctx);
		if (pfd[i].fd == -1 || getsockname(pfd[i].fd, (struct sockaddr *)&a, &len)) {
			perror("listen");
			return 1;
		}
		pfd[i].events = POLLIN;
		printf(" %d", ntohs(a.sin_port));
	}
	printf("\n");
	fflush(stdout);
	nfd = n;
	ctx = modbus_new_tcp("127.0.0.1", 0); /* receive/reply on each client in turn */
	while (!quit) {
		if (report) {
			report = 0;
			printf("served %lu\n", served);
			fflush(stdout);
		}
		if (poll(pfd, (nfds_t)nfd, -1) == -1) {
			if (errno == EINTR)
				continue;
			perror("poll");
			return 1;
		}
		for (i = 0; i < nfd; i++) {
			if (pfd[i].revents == 0)
				continue;
			if (i < n) {
				int c = accept(pfd[i].fd, NULL, NULL);
				if (c == -1)
					continue;
				if (nfd == cap) {
					close(c);
					continue;
				}
				pfd[nfd].fd = c;
				pfd[nfd].events = POLLIN;
				pfd[nfd++].revents = 0;
				continue;
			}
			modbus_set_socket(ctx, pfd[i].fd);
			rc = modbus_receive(ctx, q);
			if (rc > 0) {
				modbus_reply(ctx, q, rc, map);
				served++;
			} else if (rc == -1) {
				close(pfd[i].fd);
				pfd[i] = pfd[--nfd];
				i--;
			}
		}
	}
	modbus_set_socket(ctx, -1);
	modbus_free(ctx);
	modbus_mapping_free(map);
	free(pfd);
	return 0;
}
