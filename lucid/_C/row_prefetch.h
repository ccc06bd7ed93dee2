/* Ask for a block of memory ahead of its use, one cache line at a time.
 *
 * A row kernel that reads a row several times (max, exp, write) spends its later passes on
 * data already in cache, and the hardware prefetchers, which follow misses, go quiet then.
 * Prefetching the next row during those compute-bound passes keeps the memory busy while the
 * exps run. A hint only: a compiler without __builtin_prefetch gets a no-op. */
#ifndef LUCID_ROW_PREFETCH_H
#define LUCID_ROW_PREFETCH_H

static inline void lucid_prefetch(const void* p, long bytes) {
#if defined(__GNUC__) || defined(__clang__)
    const char* c = (const char*)p;
    for (long i = 0; i < bytes; i += 64)
        __builtin_prefetch(c + i, 0, 3);
#else
    (void)p;
    (void)bytes;
#endif
}
#endif
