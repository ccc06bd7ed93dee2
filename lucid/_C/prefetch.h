/* Ask for memory ahead of its use: LUCID_PREFETCH(p, write) fetches the cache line holding p,
 * to be read (write = 0) or written (write = 1).
 *
 * The kernels use it where the hardware prefetchers, which follow misses in address order,
 * cannot guess what comes next: the classes of a CTC frame scattered over a row N C entries
 * after the last one, or the next row while the current one is busy with exps. A hint only:
 * a compiler without __builtin_prefetch gets a no-op. A macro rather than a function, because
 * `write` must be a constant where __builtin_prefetch sees it, and because GCC may take a
 * function that does nothing but prefetch for one without effects and drop its calls. */
#ifndef LUCID_PREFETCH_H
#define LUCID_PREFETCH_H

#if defined(__GNUC__) || defined(__clang__)
#define LUCID_PREFETCH(p, write) __builtin_prefetch((p), (write), 3)
#else
#define LUCID_PREFETCH(p, write) ((void) (p))
#endif
#endif
