/*
 * server.h - wa-mock's HTTP/1.1 server: libmicrohttpd carrying requests to
 * the api (api.h) and answers back, with simulated latency done by
 * suspending connections and resuming them from a timer (timer.h).
 */
#ifndef WAMOCK_SERVER_H
#define WAMOCK_SERVER_H

#include <stdint.h>

#include "api.h"
#include "conf.h"

struct server;

/*
 * server_open - bind c->listen_host:c->listen_port (port 0 = any free
 * port), listen, and start c->threads HTTP threads answering through api.
 * *port receives the bound port. c and api must outlive the server.
 * Returns 0, -errno (bind, listen...), BND_E_INVAL (host does not resolve)
 * or BND_E_NOMEM (libmicrohttpd would not start).
 */
int server_open(struct server **out, const struct conf *c, struct api *api, uint16_t *port);

/*
 * server_close - stop accepting, answer every delayed request at once
 * (waiting up to 2 s for those answers to leave), stop the threads, close
 * the socket; sets *p to NULL; accepts NULL.
 */
void server_close(struct server **p);

#endif
