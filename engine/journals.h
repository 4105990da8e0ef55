/*
 * journals.h - where `serve` records the status webhooks of notices that
 * are not being sent by this process: a small cache of open journals
 * (journal.h) of finished notices, so that delivered / read / failed
 * statuses arriving after a fan-out ended still count for its coverage.
 *
 * Who holds a notice's journal: while a notice runs, its sender (flock on
 * journal.log); statuses of running notices go to the sender (a hook of
 * service.h). Once a notice is terminal (done, cancelled, expired) nobody
 * will write it again except for statuses, so this cache may keep it open.
 * A notice that is neither running here nor terminal (paused, stopped,
 * queued: it may be resumed) is opened, appended to, committed and closed
 * within the call, so the lock is held only for that moment.
 *
 * Durability: appends to cached journals are committed by journals_commit,
 * which `serve`'s committer calls with its store sync, before the 200 of
 * the webhooks that carried them. The open-and-close path commits itself.
 *
 * Threading: every function may be called from any thread (one mutex;
 * journal.h's own lock covers each journal).
 */
#ifndef JOURNALS_H
#define JOURNALS_H

#include <stddef.h>
#include <stdint.h>

#include "journal.h"

#define JOURNALS_OPEN_MAX 8        /* finished notices kept open at most (LRU) */

struct journals;

/* journals_open - data_dir is copied. Returns 0, BND_E_INVAL, BND_E_NOMEM. */
int journals_open(struct journals **out, const char *data_dir);

/* journals_close - commit and close every cached journal; free. Accepts
 * NULL; sets *p to NULL. */
void journals_close(struct journals **p);

/*
 * journals_status - record a status of ordinal in notice id's journal.
 * *pending is set to 1 when the record waits for journals_commit (a cached
 * journal), left alone otherwise.
 * Returns 0; BND_E_LOCKED (another holder: the notice runs in a sender);
 * BND_E_NOTFOUND, BND_E_NOTICE_ID (no such notice); the codes of
 * journal_open_notice and journal_append (BND_E_RANGE: ordinal past the
 * list); BND_E_NOMEM; -errno of the commit of a journal opened for the call.
 */
int journals_status(struct journals *js, const char *id, uint32_t ordinal,
                    enum journal_status st, int32_t code, uint64_t t_ms, int *pending);

/* journals_commit - make the appended statuses durable (one fdatasync per
 * journal with new records). Returns 0 or the first error. */
int journals_commit(struct journals *js);

/* journals_trim - close cached journals not used for idle_ns (now_ns is
 * the caller's monotonic clock). */
void journals_trim(struct journals *js, uint64_t now_ns, uint64_t idle_ns);

/* journals_cached - journals open now. */
size_t journals_cached(struct journals *js);

#endif
