/*
 * httpd_int.h - internals of httpd.c shared with its tests only.
 */
#ifndef HTTPD_INT_H
#define HTTPD_INT_H

#include "httpd.h"

/*
 * httpd__deferring_hook - when set, called on the server thread after a
 * handler returned without answering and before the connection is
 * suspended: the narrowest window of the deferred-answer race. A test sets
 * it to answer right there, so the "answered before suspended" path is
 * exercised deterministically. NULL in production.
 */
extern void (*httpd__deferring_hook)(struct httpd_req *r);

#endif
