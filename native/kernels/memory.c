/*
 * Transparent huge pages for long-lived, streamed memory (weights, KV cache): decode reads every
 * routed expert's bytes each step, and with 4 KiB pages each page is a TLB miss (a two-level walk
 * under a hypervisor) and the hardware prefetcher stops at every page boundary. Where THP is in
 * "madvise" mode (Debian's default) only ranges advised with MADV_HUGEPAGE get 2 MiB pages, and
 * only on their first touch, so the caller advises fresh memory before filling it.
 */
#define _GNU_SOURCE
#include "kernels.h"
#include <stdint.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

#define HUGE_BYTES ((uintptr_t)2 << 20)

size_t xds_advise_huge(void *p, size_t n) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  const uintptr_t a = ((uintptr_t)p + HUGE_BYTES - 1) & ~(HUGE_BYTES - 1), b = ((uintptr_t)p + n) & ~(HUGE_BYTES - 1);
  if (b <= a) return 0;
  return madvise((void *)a, b - a, MADV_HUGEPAGE) == 0 ? (size_t)(b - a) : 0;
#else
  (void)p; (void)n;
  return 0;
#endif
}
