/*
 * par.h — a parallel for-loop over an index range with pthreads. Work is handed out in
 * chunks from an atomic counter, so uneven items balance out. Used only where items are
 * independent (signature checks, tx decoding): never to split a reduction.
 */
#ifndef AG_PAR_H
#define AG_PAR_H

#include <stddef.h>

/* Calls fn(ctx, begin, end) over [0, n) using up to threads threads (the caller included). */
void ag_par_for(size_t n, int threads, size_t chunk, void (*fn)(void *ctx, size_t begin, size_t end),
                void *ctx);

#endif
